import { authorizeOperatorRoute, authorizeTenantRoute } from '../auth/principal.ts';
import { etagOf, ifMatchVersion } from '../http/etag.ts';
import { jsonBody, validate } from '../http/request.ts';
import { json } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { CreateTenantBody, PatchTenantBody } from './model.ts';
import * as service from './service.ts';

// Each operation authorizes first, then reads its input: no schema is described to a caller who may not use it.

export const createTenant: Operation = async (request) => {
  const principal = await authorizeOperatorRoute(request);
  const tenant = await service.createTenant(
    runtime(),
    principal,
    validate(CreateTenantBody, jsonBody(request)),
  );
  return json(201, tenant, { ...etagOf(tenant.version), location: `/admin/tenants/${tenant.id}` });
};

export const getTenant: Operation = async (request) => {
  const { principal, tenantId } = await authorizeTenantRoute(request, 'read');
  const tenant = await service.getTenant(runtime(), principal, tenantId);
  return json(200, tenant, etagOf(tenant.version));
};

export const patchTenant: Operation = async (request) => {
  const { principal, tenantId } = await authorizeTenantRoute(request, 'manage');
  const tenant = await service.patchTenant(
    runtime(),
    principal,
    tenantId,
    validate(PatchTenantBody, jsonBody(request)),
    ifMatchVersion(request),
  );
  return json(200, tenant, etagOf(tenant.version));
};
