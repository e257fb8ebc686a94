import * as applications from '#shared/applications/http.ts';
import { getAudit } from '#shared/audit/http.ts';
import * as connections from '#shared/connections/http.ts';
import * as spKeys from '#shared/connections/sp-keys-http.ts';
import * as domains from '#shared/domains/http.ts';
import { httpFunction } from '#shared/http/handler.ts';
import * as members from '#shared/identity/admin-http.ts';
import * as setupLinks from '#shared/identity/setup-links-http.ts';
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
  'POST /admin/tenants/{tenantId}/connections/{connectionId}/test': connections.testConnection,
  'GET /admin/tenants/{tenantId}/connections/{connectionId}/directory-groups': connections.directoryGroups,
  'POST /admin/tenants/{tenantId}/connections/{connectionId}/sp-keys/rotate': spKeys.rotateSpKeys,
  'POST /admin/tenants/{tenantId}/connections/{connectionId}/sp-keys/activate': spKeys.activateSpKeys,
  'POST /admin/tenants/{tenantId}/connections/{connectionId}/sp-keys/retire': spKeys.retireSpKeys,
  'GET /admin/tenants/{tenantId}/audit': getAudit,
  'POST /admin/tenants/{tenantId}/users': members.createUser,
  'GET /admin/tenants/{tenantId}/users': members.listUsers,
  'GET /admin/tenants/{tenantId}/users/{userId}': members.getUser,
  'PATCH /admin/tenants/{tenantId}/users/{userId}': members.patchUser,
  'DELETE /admin/tenants/{tenantId}/users/{userId}': members.deleteUser,
  'POST /admin/tenants/{tenantId}/users/{userId}/invitation': members.sendInvitation,
  'DELETE /admin/tenants/{tenantId}/users/{userId}/sessions': members.revokeSessions,
  'POST /admin/tenants/{tenantId}/groups': members.createGroup,
  'GET /admin/tenants/{tenantId}/groups': members.listGroups,
  'POST /admin/tenants/{tenantId}/external-roles': members.createXrole,
  'GET /admin/tenants/{tenantId}/external-roles': members.listXroles,
  'DELETE /admin/tenants/{tenantId}/external-roles/{xroleId}': members.deleteXrole,
  'PUT /admin/tenants/{tenantId}/groups/{groupId}/external-roles/{xroleId}': members.putMapping,
  'DELETE /admin/tenants/{tenantId}/groups/{groupId}/external-roles/{xroleId}': members.deleteMapping,
  'POST /admin/tenants/{tenantId}/domains': domains.addDomain,
  'GET /admin/tenants/{tenantId}/domains': domains.listDomains,
  'POST /admin/tenants/{tenantId}/domains/{domain}/verify': domains.verifyDomain,
  'DELETE /admin/tenants/{tenantId}/domains/{domain}': domains.removeDomain,
  'POST /admin/tenants/{tenantId}/setup-links': setupLinks.createSetupLink,
  'GET /admin/tenants/{tenantId}/setup-links': setupLinks.listSetupLinks,
  'DELETE /admin/tenants/{tenantId}/setup-links/{linkId}': setupLinks.revokeSetupLink,
  'POST /admin/applications': applications.createApplication,
  'GET /admin/applications': applications.listApplications,
  'GET /admin/applications/{clientId}': applications.getApplication,
  'PATCH /admin/applications/{clientId}': applications.patchApplication,
  'DELETE /admin/applications/{clientId}': applications.deleteApplication,
});
