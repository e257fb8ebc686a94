import { authenticate } from '../auth/principal.ts';
import { pathParam, validate } from '../http/request.ts';
import { json } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { AuditQuery, listAudit } from './records.ts';

export const getAudit: Operation = async (request) => {
  const principal = await authenticate(request);
  const page = await listAudit(
    runtime(),
    principal,
    pathParam(request, 'tenantId'),
    validate(AuditQuery, request.query, 'query'),
  );
  return json(200, page);
};
