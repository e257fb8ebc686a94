import { httpFunction } from '#shared/http/handler.ts';
import { passwordLogin } from '#shared/identity/http.ts';

export const handler = httpFunction({
  'POST /login/password': passwordLogin,
});
