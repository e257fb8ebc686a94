import { consoleAction, consolePage, home, tenantHome } from '#shared/console/http.ts';
import { httpFunction } from '#shared/http/handler.ts';

export const handler = httpFunction({
  'GET /console': home,
  'GET /console/{tenantId}': tenantHome,
  'GET /console/{tenantId}/{section}': consolePage,
  'GET /console/{tenantId}/{section}/{itemId}': consolePage,
  'POST /console/{tenantId}/{section}': consoleAction,
  'POST /console/{tenantId}/{section}/{itemId}': consoleAction,
});
