import { authorizeOperatorRoute } from '../auth/principal.ts';
import { etagOf, ifMatchVersion } from '../http/etag.ts';
import { jsonBody, pathParam, validate } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { ApplicationListQuery, PatchApplicationBody, viewOf } from './model.ts';
import * as service from './service.ts';

// Operator only: each operation authorizes first, then reads its input, so a tenant owner or admin
// gets 403 before the body, the query or If-Match is looked at.

export const createApplication: Operation = async (request) => {
  const principal = await authorizeOperatorRoute(request);
  const created = await service.createApplication(runtime(), principal, jsonBody(request));
  return json(201, created, {
    ...etagOf(created.version),
    location: `/admin/applications/${created.clientId}`,
  });
};

export const listApplications: Operation = async (request) => {
  const principal = await authorizeOperatorRoute(request);
  const query = validate(ApplicationListQuery, request.query, 'query');
  return json(200, await service.listApplications(runtime(), principal, query));
};

export const getApplication: Operation = async (request) => {
  const principal = await authorizeOperatorRoute(request);
  const app = await service.getApplication(runtime(), principal, pathParam(request, 'clientId'));
  return json(200, viewOf(app), etagOf(app.version));
};

export const patchApplication: Operation = async (request) => {
  const principal = await authorizeOperatorRoute(request);
  const view = await service.patchApplication(
    runtime(),
    principal,
    pathParam(request, 'clientId'),
    validate(PatchApplicationBody, jsonBody(request)),
    ifMatchVersion(request),
  );
  return json(200, view, etagOf(view.version));
};

export const deleteApplication: Operation = async (request) => {
  const principal = await authorizeOperatorRoute(request);
  await service.deleteApplication(
    runtime(),
    principal,
    pathParam(request, 'clientId'),
    ifMatchVersion(request),
  );
  return noContent();
};
