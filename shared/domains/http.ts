import { authorizeTenantRoute, type TenantAccess } from '../auth/principal.ts';
import { pathParam } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { HttpRequest, Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import * as service from './service.ts';

/** Authorized first; bodies are validated after: a caller without access gets 403/404, not 400. */
const ctx = async (request: HttpRequest, access: TenantAccess) => ({
  rt: runtime(),
  ...(await authorizeTenantRoute(request, access)),
});

export const addDomain: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const { created, view } = await service.addDomain(rt, principal, tenantId, request.body);
  return json(created ? 201 : 200, view, {
    location: `/admin/tenants/${tenantId}/domains/${view.domain}`,
  });
};

export const listDomains: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  return json(200, { items: await service.listDomains(rt, principal, tenantId) });
};

export const verifyDomain: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const view = await service.verifyDomain(
    rt,
    principal,
    tenantId,
    pathParam(request, 'domain'),
    request.body,
  );
  return json(200, view);
};

export const removeDomain: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  await service.removeDomain(rt, principal, tenantId, pathParam(request, 'domain'));
  return noContent();
};
