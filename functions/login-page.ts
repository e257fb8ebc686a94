import { httpFunction } from '#shared/http/handler.ts';
import { discover, loginPage } from '#shared/pages/login.ts';

export const handler = httpFunction({
  'GET /t/{tenantId}/login': loginPage,
  'GET /login/discover': discover,
});
