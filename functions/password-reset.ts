import { httpFunction } from '#shared/http/handler.ts';
import * as links from '#shared/pages/password.ts';

export const handler = httpFunction({
  'GET /login/forgot': links.forgotPage,
  'POST /login/forgot': links.forgot,
  'GET /login/reset': links.resetPage,
  'POST /login/reset': links.reset,
});
