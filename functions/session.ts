import { httpFunction } from '#shared/http/handler.ts';
import * as session from '#shared/identity/http.ts';

export const handler = httpFunction({
  'GET /session': session.getSession,
  'POST /session/refresh': session.refreshSession,
  'POST /logout': session.logout,
  'POST /account/password': session.changePassword,
  'GET /.well-known/jwks.json': session.jwks,
});
