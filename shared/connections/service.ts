import { randomUUID } from 'node:crypto';
import { actorOf, type Principal } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { validate } from '../http/request.ts';
import { mergePatch } from '../merge-patch.ts';
import type { Runtime } from '../runtime.ts';
import * as repo from '../store/connections.ts';
import { getTenant, tenantToManage } from '../tenants/service.ts';
import type { SpKeyAction, SpKeysResult } from './contract.ts';
import { type Compatibility, type Connection, verdict } from './model.ts';
import { configuredConnection, connectorOf } from './registry.ts';
import { ConnectionBody, type ConnectionType, PatchConnectionBody } from './schema.ts';
import {
  dropSecrets,
  missingSecrets,
  reconcileSecrets,
  requireStoredSecrets,
  secretRequired,
  splitSecrets,
  storeSecrets,
  unsetSecretFindings,
  withGeneratedKey,
} from './secrets.ts';
import { limitSetupProvisioning } from './setup-guard.ts';

/**
 * Connections' CRUD for the admin API, and the live calls (test, directory groups). Secret handling
 * (split, store, bind to destinations, discard) is secrets.ts's; protocol work is the connector's.
 */

export interface ConnectionView {
  id: string;
  tenantId: string;
  type: ConnectionType;
  name: string;
  enabled: boolean;
  [protocol: string]: unknown;
  secretsSet: string[];
  sp: Record<string, unknown>;
  compatibility: Compatibility;
  version: number;
}

/** The SP certificates' facts a connection's derived state carries (SAML), as stored. */
const spCertificates = (connection: Connection): unknown[] | undefined => {
  const sp = connection.derived?.sp as { certificates?: unknown } | undefined;
  return Array.isArray(sp?.certificates) ? sp.certificates : undefined;
};

/** What the admin API shows of a connection: never a secret, only which ones are set. */
export function viewOf(rt: Runtime, connection: Connection): ConnectionView {
  const connector = connectorOf(connection);
  return {
    id: connection.id,
    tenantId: connection.tenantId,
    type: connection.type,
    name: connection.name,
    enabled: connection.enabled,
    [connection.type]: connection.config,
    provisioning: connection.provisioning,
    authorization: connection.authorization,
    secretsSet: Object.keys(connection.secretRefs).sort(),
    // SAML adds its SP certificates (derived.sp, written with the key set): never a private key.
    sp: {
      ...connector.sp(rt.config.BASE_URL, connection.id),
      ...(spCertificates(connection) ? { certificates: spCertificates(connection) } : {}),
    },
    compatibility: connection.compatibility,
    ...(connection.derived?.idp ? { idp: connection.derived.idp } : {}),
    ...(connection.derived?.clientJwks ? { clientJwks: connection.derived.clientJwks } : {}),
    version: connection.version,
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
  };
}

const protocolConfig = (body: ConnectionBody): Record<string, unknown> =>
  body.type === 'saml' ? body.saml : body.type === 'oidc' ? body.oidc : body.ldap;

export async function createConnection(rt: Runtime, principal: Principal, tenantId: string, input: unknown) {
  await tenantToManage(rt, principal, tenantId);
  const body = validate(ConnectionBody, input);
  limitSetupProvisioning(principal, body);
  if ((await repo.countConnections(rt.db, tenantId)) >= repo.MAX_CONNECTIONS_PER_TENANT) {
    throw new AppError(
      409,
      'limit_exceeded',
      `A tenant can have at most ${repo.MAX_CONNECTIONS_PER_TENANT} connections.`,
    );
  }
  const config = withGeneratedKey(body.type, protocolConfig(body), new Set());
  const connector = connectorOf(body);
  const { plain, secrets } = splitSecrets(config, connector.secretPaths);
  const [missing] = missingSecrets(body.type, config, secrets.keys());
  if (missing !== undefined) throw secretRequired(body.type, missing);

  const id = randomUUID();
  const now = rt.clock.now().toISOString();
  const saved = await connector.onSave(rt, {
    tenantId,
    connectionId: id,
    config,
    secret: async (path) => secrets.get(path),
  });
  const secretRefs = await storeSecrets(rt, tenantId, id, secrets);
  const connection: Connection = {
    id,
    tenantId,
    type: body.type,
    name: body.name,
    enabled: body.enabled,
    config: plain,
    secretRefs,
    provisioning: body.provisioning,
    authorization: body.authorization,
    compatibility: saved.compatibility,
    ...(saved.derived ? { derived: saved.derived } : {}),
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await repo.createConnection(rt.db, connection);
  } catch (error) {
    await dropSecrets(rt, [...Object.values(secretRefs), ...(connector.ownedSecrets?.(connection) ?? [])]);
    throw error;
  }
  await rt.events.publish({
    type: 'connection.created',
    tenantId,
    detail: { ...actorOf(principal), connectionId: id, connectionType: body.type },
  });
  return viewOf(rt, connection);
}

export async function listConnections(rt: Runtime, principal: Principal, tenantId: string) {
  await getTenant(rt, principal, tenantId);
  const connections = await repo.listConnections(rt.db, tenantId);
  return connections.map((c) => viewOf(rt, c));
}

export async function getConnection(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
) {
  await getTenant(rt, principal, tenantId);
  const connection = await repo.getConnection(rt.db, tenantId, connectionId);
  if (!connection) throw Errors.notFound('The connection');
  return connection;
}

export async function patchConnection(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
  input: unknown,
  ifMatch: number | undefined,
) {
  await tenantToManage(rt, principal, tenantId);
  const patch = validate(PatchConnectionBody, input);
  const current = await repo.getConnection(rt.db, tenantId, connectionId);
  if (!current) throw Errors.notFound('The connection');
  if (patch.type !== undefined && patch.type !== current.type) {
    throw new AppError(400, 'type_immutable', 'A connection cannot change type; create a new one.');
  }
  const foreign = (['saml', 'oidc', 'ldap'] as const).find(
    (t) => t !== current.type && patch[t] !== undefined,
  );
  if (foreign) throw Errors.invalidRequest(`A ${current.type} connection has no ${foreign} settings.`);
  const expected = patch.version ?? ifMatch ?? current.version;
  if (expected !== current.version) throw Errors.versionConflict();

  const type = current.type;
  const connector = connectorOf(current);
  // One level deep: `dnResolution: {…}` replaces the whole object (its method may change), while
  // a secret inside it is kept below unless the object holding it went away.
  const mergedConfig = mergePatch(current.config, patch[type] ?? {}, 1) as Record<string, unknown>;
  const body = validate(ConnectionBody, {
    type,
    name: patch.name ?? current.name,
    enabled: patch.enabled ?? current.enabled,
    [type]: mergedConfig,
    provisioning: mergePatch(current.provisioning, patch.provisioning ?? {}, 1),
    authorization: mergePatch(current.authorization, patch.authorization ?? {}, 1),
  });
  limitSetupProvisioning(principal, body, current);

  const validated = protocolConfig(body);
  const { kept, dropped, discarded } = reconcileSecrets(current, validated, patch[type]);
  const config = withGeneratedKey(type, validated, new Set(kept.keys()));
  const { plain, secrets } = splitSecrets(config, connector.secretPaths);
  // A required secret may be missing only because the connection moved, now or in an earlier
  // PATCH: the change is saved and the connection reports it, and tests and logins refuse with
  // secret_missing until it is set again. Any other missing secret refuses the request.
  const owed = new Set([
    ...discarded.keys(),
    ...missingSecrets(type, current.config, Object.keys(current.secretRefs)),
  ]);
  const missing = missingSecrets(type, config, [...kept.keys(), ...secrets.keys()]);
  const refused = missing.find((key) => !owed.has(key));
  if (refused !== undefined) throw secretRequired(type, refused);

  const saved = await connector.onSave(rt, {
    tenantId,
    connectionId,
    config,
    secret: async (path) => {
      const fresh = secrets.get(path);
      if (fresh !== undefined) return fresh;
      const ref = kept.get(path);
      return ref === undefined ? undefined : rt.secrets.get(ref);
    },
    previous: current,
  });
  const unset = unsetSecretFindings(type, missing, discarded);
  const newRefs = await storeSecrets(rt, tenantId, connectionId, secrets);
  const { derived: _old, ...base } = current;
  const updated: Connection = {
    ...base,
    compatibility: verdict([...unset, ...saved.compatibility.problems], saved.compatibility.warnings),
    ...(saved.derived ? { derived: saved.derived } : {}),
    name: body.name,
    enabled: body.enabled,
    config: plain,
    secretRefs: { ...Object.fromEntries(kept), ...newRefs },
    provisioning: body.provisioning,
    authorization: body.authorization,
    version: current.version + 1,
    updatedAt: rt.clock.now().toISOString(),
  };
  try {
    await repo.replaceConnection(rt.db, updated, expected);
  } catch (error) {
    // what this save made and nothing else refers to: new secrets, and secrets onSave generated
    const before = new Set(connector.ownedSecrets?.(current) ?? []);
    const made = (connector.ownedSecrets?.(updated) ?? []).filter((ref) => !before.has(ref));
    await dropSecrets(rt, [...Object.values(newRefs), ...made]);
    throw error;
  }
  await dropSecrets(rt, dropped);
  await rt.events.publish({
    type: 'connection.updated',
    tenantId,
    detail: {
      ...actorOf(principal),
      connectionId,
      connectionType: type,
      changed: Object.keys(patch).filter((k) => k !== 'version'),
      secretsChanged: Object.keys(newRefs),
      secretsDiscarded: [...discarded.keys()],
      version: updated.version,
    },
  });
  return viewOf(rt, updated);
}

export async function deleteConnection(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
  ifMatch: number | undefined,
): Promise<void> {
  await tenantToManage(rt, principal, tenantId);
  const deleted = await repo.deleteConnection(rt.db, tenantId, connectionId, ifMatch);
  await dropSecrets(rt, Object.values(deleted.secretRefs));
  await connectorOf(deleted).onDelete?.(rt, deleted);
  await rt.events.publish({
    type: 'connection.deleted',
    tenantId,
    detail: { ...actorOf(principal), connectionId, connectionType: deleted.type },
  });
}

/**
 * A connection the live calls may use: every secret it needs is stored. Checked before any
 * network call, so a connection whose secret was discarded sends nothing anywhere.
 */
async function usableConnection(rt: Runtime, tenantId: string, connectionId: string) {
  const connection = await repo.getConnection(rt.db, tenantId, connectionId);
  if (!connection) throw Errors.notFound('The connection');
  requireStoredSecrets(connection);
  return { connection, configured: configuredConnection(connection) };
}

export async function testConnection(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
) {
  await tenantToManage(rt, principal, tenantId);
  const { connection, configured } = await usableConnection(rt, tenantId, connectionId);
  const connector = connectorOf(connection);
  if (!connector.liveTest) {
    throw new AppError(400, 'not_supported', `A ${connection.type} connection has no live test yet.`);
  }
  const result = await connector.liveTest(rt, configured);
  await repo.recordLiveTest(rt.db, connection, result);
  await rt.events.publish({
    type: 'connection.tested',
    tenantId,
    detail: { connectionId, compatible: result.compatibility.compatible },
  });
  return { compatibility: result.compatibility, report: result.report };
}

export async function directoryGroups(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
  query: string,
) {
  await tenantToManage(rt, principal, tenantId);
  const { connection, configured } = await usableConnection(rt, tenantId, connectionId);
  const connector = connectorOf(connection);
  if (!connector.directoryGroups) {
    throw new AppError(400, 'not_supported', 'Only LDAP connections have directory groups.');
  }
  return connector.directoryGroups(rt, configured, query);
}

/**
 * Rotate, activate or retire a connection's SP keys (the console's way to the same change as
 * `POST …/connections/{c}/sp-keys/{action}`): the connector's `spKeys`, for a connection of a
 * protocol that has SP keys (SAML); any other answers 400 not_supported.
 */
export async function changeSpKeys(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
  action: SpKeyAction,
  options: { graceDays?: number } = {},
): Promise<SpKeysResult> {
  await tenantToManage(rt, principal, tenantId);
  const connection = await repo.getConnection(rt.db, tenantId, connectionId);
  if (!connection) throw Errors.notFound('The connection');
  const { spKeys } = connectorOf(connection);
  if (!spKeys) throw new AppError(400, 'not_supported', 'Only SAML connections have SP keys.');
  return spKeys(rt, connection, { action, ...options, actor: actorOf(principal) });
}
