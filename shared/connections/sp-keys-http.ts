import * as z from 'zod';
import { authenticate, authorizeTenant } from '../auth/principal.ts';
import { etagOf } from '../http/etag.ts';
import { pathParam, validate } from '../http/request.ts';
import { json } from '../http/responses.ts';
import type { HttpRequest, Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import type { SpKeyAction } from './contract.ts';
import { changeSpKeys } from './service.ts';

/** POST …/sp-keys/rotate: optional; how long the next key waits before it signs (and the old one is kept after). */
export const RotateSpKeysBody = z.strictObject({
  graceDays: z.int().min(0).max(90).optional(),
});

/**
 * The SP key operations of the admin API: the connection service's `changeSpKeys`, which the
 * console uses too (the SAML connector's `spKeys`, shared/saml/sp-keys.ts). Owner, admin or operator; the caller is
 * authorized before the body is read, so one who may not use the route learns nothing of it.
 */
const operation =
  (action: SpKeyAction): Operation =>
  async (request: HttpRequest) => {
    const principal = await authenticate(request);
    const tenantId = pathParam(request, 'tenantId');
    authorizeTenant(principal, tenantId, 'manage');
    const options = action === 'rotate' ? validate(RotateSpKeysBody, request.body ?? {}) : {};
    const answer = await changeSpKeys(
      runtime(),
      principal,
      tenantId,
      pathParam(request, 'connectionId'),
      action,
      options,
    );
    return json(200, answer, etagOf(answer.version));
  };

export const rotateSpKeys = operation('rotate');
export const activateSpKeys = operation('activate');
export const retireSpKeys = operation('retire');
