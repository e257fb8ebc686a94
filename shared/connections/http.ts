import * as z from 'zod';
import { authenticate } from '../auth/principal.ts';
import { etagOf, ifMatchVersion } from '../http/etag.ts';
import { jsonBody, pathParam, validate } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import * as service from './service.ts';

export const createConnection: Operation = async (request) => {
  const principal = await authenticate(request);
  const tenantId = pathParam(request, 'tenantId');
  const view = await service.createConnection(runtime(), principal, tenantId, jsonBody(request));
  return json(201, view, {
    ...etagOf(view.version),
    location: `/admin/tenants/${tenantId}/connections/${view.id}`,
  });
};

export const listConnections: Operation = async (request) => {
  const principal = await authenticate(request);
  const items = await service.listConnections(runtime(), principal, pathParam(request, 'tenantId'));
  return json(200, { items });
};

export const getConnection: Operation = async (request) => {
  const principal = await authenticate(request);
  const rt = runtime();
  const connection = await service.getConnection(
    rt,
    principal,
    pathParam(request, 'tenantId'),
    pathParam(request, 'connectionId'),
  );
  return json(200, service.viewOf(rt, connection), etagOf(connection.version));
};

export const patchConnection: Operation = async (request) => {
  const principal = await authenticate(request);
  const view = await service.patchConnection(
    runtime(),
    principal,
    pathParam(request, 'tenantId'),
    pathParam(request, 'connectionId'),
    jsonBody(request),
    ifMatchVersion(request),
  );
  return json(200, view, etagOf(view.version));
};

export const deleteConnection: Operation = async (request) => {
  const principal = await authenticate(request);
  await service.deleteConnection(
    runtime(),
    principal,
    pathParam(request, 'tenantId'),
    pathParam(request, 'connectionId'),
    ifMatchVersion(request),
  );
  return noContent();
};

export const testConnection: Operation = async (request) => {
  const principal = await authenticate(request);
  const result = await service.testConnection(
    runtime(),
    principal,
    pathParam(request, 'tenantId'),
    pathParam(request, 'connectionId'),
  );
  return json(200, result);
};

export const GroupQuery = z.strictObject({ q: z.string().max(200).default('') });

export const directoryGroups: Operation = async (request) => {
  const principal = await authenticate(request);
  const { q } = validate(GroupQuery, request.query, 'query');
  const items = await service.directoryGroups(
    runtime(),
    principal,
    pathParam(request, 'tenantId'),
    pathParam(request, 'connectionId'),
    q,
  );
  return json(200, { items });
};
