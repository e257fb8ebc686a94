import { httpFunction } from '#shared/http/handler.ts';
import * as ldap from '#shared/ldap/http.ts';

export const handler = httpFunction({
  'POST /ldap/{connectionId}/login': ldap.login,
});
