import { authorizeTenantRoute } from '../auth/principal.ts';
import { validate } from '../http/request.ts';
import { json } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { AuditQuery, listAudit } from './records.ts';

export const getAudit: Operation = async (request) => {
  // Authorized before the query is read: a caller without access learns nothing of its parameters.
  const { principal, tenantId } = await authorizeTenantRoute(request, 'read');
  const page = await listAudit(runtime(), principal, tenantId, validate(AuditQuery, request.query, 'query'));
  return json(200, page);
};
