import { pathParam } from '../http/request.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { ldapLogin } from './login.ts';

/** POST /ldap/{connectionId}/login: JSON, or the hosted page's form (email, password, csrf). */
export const login: Operation = async (request) =>
  ldapLogin(runtime(), request, pathParam(request, 'connectionId'));
