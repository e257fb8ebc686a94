import * as connections from '#shared/connections/http.ts';
import { httpFunction } from '#shared/http/handler.ts';
import * as tenants from '#shared/tenants/http.ts';

export const handler = httpFunction({
  'POST /admin/tenants': tenants.createTenant,
  'GET /admin/tenants/{tenantId}': tenants.getTenant,
  'PATCH /admin/tenants/{tenantId}': tenants.patchTenant,
  'POST /admin/tenants/{tenantId}/connections': connections.createConnection,
  'GET /admin/tenants/{tenantId}/connections': connections.listConnections,
  'GET /admin/tenants/{tenantId}/connections/{connectionId}': connections.getConnection,
  'PATCH /admin/tenants/{tenantId}/connections/{connectionId}': connections.patchConnection,
  'DELETE /admin/tenants/{tenantId}/connections/{connectionId}': connections.deleteConnection,
});
