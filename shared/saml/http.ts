import { pathParam } from '../http/request.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { consumeResponse } from './service.ts';

/**
 * The ACS takes the IdP's cross-site POST: it needs no cookie (SameSite never matters here) and
 * trusts nothing but the signed response and the connection named by the route.
 */
export const acs: Operation = (request) =>
  consumeResponse(runtime(), request, pathParam(request, 'connectionId'));
