import { httpFunction } from '#shared/http/handler.ts';
import { passwordLogin } from '#shared/identity/http.ts';
import * as links from '#shared/pages/password.ts';

export const handler = httpFunction({
  'POST /login/password': passwordLogin,
  'GET /login/forgot': links.forgotPage,
  'POST /login/forgot': links.forgot,
  'GET /login/reset': links.resetPage,
  'POST /login/reset': links.reset,
});
