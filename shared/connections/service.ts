import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { actorOf, type Principal } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { validate } from '../http/request.ts';
import { mergePatch } from '../merge-patch.ts';
import type { Runtime } from '../runtime.ts';
import * as repo from '../store/connections.ts';
import { getTenant, tenantToManage } from '../tenants/service.ts';
import { type Compatibility, type Connection, type Finding, secretMissing, verdict } from './model.ts';
import { CONNECTORS, connectorOf, SECRET_DESTINATIONS } from './registry.ts';
import { ConnectionBody, type ConnectionType, PatchConnectionBody, PROTOCOL_CONFIGS } from './schema.ts';

type Path = readonly string[];
const pathKey = (path: Path) => path.join('.');

function getAt(object: unknown, path: Path): unknown {
  let node = object;
  for (const part of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Splits a validated protocol config into its plain part and its secret values. */
function splitSecrets(config: Record<string, unknown>, paths: readonly Path[]) {
  const plain = structuredClone(config);
  const secrets = new Map<string, string>();
  for (const path of paths) {
    const value = getAt(plain, path);
    if (typeof value !== 'string') continue;
    secrets.set(pathKey(path), value);
    const parent = getAt(plain, path.slice(0, -1)) as Record<string, unknown>;
    delete parent[path.at(-1) as string];
  }
  return { plain, secrets };
}

/** private_key_jwt without a key of the tenant's own: we make one (its public JWK is published). */
function withGeneratedKey(type: ConnectionType, config: Record<string, unknown>, keep: Set<string>) {
  if (type !== 'oidc' || config.tokenEndpointAuthMethod !== 'private_key_jwt') return config;
  if (config.privateKeyPem !== undefined || keep.has('privateKeyPem')) return config;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...config, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The secrets `config` cannot work without that are not in `have` (dot-joined paths). */
const missingSecrets = (type: ConnectionType, config: unknown, have: Iterable<string>): string[] => {
  const present = new Set(have);
  return connectorOf({ type })
    .requiredSecrets(config)
    .map(pathKey)
    .filter((key) => !present.has(key));
};

const secretRequired = (type: ConnectionType, key: string) =>
  Errors.invalidRequest(`${type}.${key} is required.`, [{ path: `${type}.${key}`, message: 'is required' }]);

/**
 * The destination fields (SECRET_DESTINATIONS) of a secret that differ between the stored config
 * and the new one. The stored one is read through the schema first, so a default added since it
 * was saved does not count as a move.
 */
function movedFields(
  type: ConnectionType,
  key: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  const fields: Record<string, readonly string[]> = SECRET_DESTINATIONS[type];
  const parsed = PROTOCOL_CONFIGS[type].safeParse(before);
  const old: Record<string, unknown> = parsed.success ? parsed.data : before;
  // A secret nobody declared a destination for is treated as bound to every field.
  const bound = Object.hasOwn(fields, key)
    ? (fields[key] ?? [])
    : [...new Set([...Object.keys(old), ...Object.keys(after)])];
  return bound.filter((field) => !isDeepStrictEqual(old[field], after[field]));
}

async function storeSecrets(
  rt: Runtime,
  tenantId: string,
  connectionId: string,
  secrets: Map<string, string>,
) {
  const refs: Record<string, string> = {};
  try {
    for (const [path, value] of secrets) {
      refs[path] = await rt.secrets.put(`tenants/${tenantId}/connections/${connectionId}/${path}`, value);
    }
  } catch (error) {
    await dropSecrets(rt, Object.values(refs));
    throw error;
  }
  return refs;
}

/** Best effort: a secret left behind is orphaned, never exposed, so a failure here only logs. */
async function dropSecrets(rt: Runtime, refs: string[]): Promise<void> {
  await Promise.allSettled(refs.map((ref) => rt.secrets.delete(ref)));
}

export interface ConnectionView {
  id: string;
  tenantId: string;
  type: ConnectionType;
  name: string;
  enabled: boolean;
  [protocol: string]: unknown;
  secretsSet: string[];
  sp: Record<string, string>;
  compatibility: Compatibility;
  version: number;
}

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
    sp: connector.sp(rt.config.BASE_URL, connection.id),
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
  if ((await repo.countConnections(rt.db, tenantId)) >= repo.MAX_CONNECTIONS_PER_TENANT) {
    throw new AppError(
      409,
      'limit_exceeded',
      `A tenant can have at most ${repo.MAX_CONNECTIONS_PER_TENANT} connections.`,
    );
  }
  const config = withGeneratedKey(body.type, protocolConfig(body), new Set());
  const { plain, secrets } = splitSecrets(config, CONNECTORS[body.type].secretPaths);
  const [missing] = missingSecrets(body.type, config, secrets.keys());
  if (missing !== undefined) throw secretRequired(body.type, missing);

  const id = randomUUID();
  const now = rt.clock.now().toISOString();
  const saved = await CONNECTORS[body.type].onSave(rt, {
    tenantId,
    connectionId: id,
    config: config as never,
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
    await dropSecrets(rt, Object.values(secretRefs));
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
  const secretPaths = CONNECTORS[type].secretPaths;
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

  // A stored secret stays while the object holding it still exists, no new value replaced it, and
  // the connection still sends it where it went before. Secrets are bound to where they go: once
  // the URL, issuer or endpoint that receives one changes, the stored value is discarded (deleted,
  // not only unreferenced) unless this request gives it again, so a tenant admin cannot point the
  // connection at a host of theirs and have the stored secret delivered there.
  const validated = protocolConfig(body);
  const kept = new Map<string, string>();
  const dropped: string[] = [];
  const discarded = new Map<string, string[]>();
  for (const path of secretPaths) {
    const key = pathKey(path);
    const ref = current.secretRefs[key];
    if (ref === undefined) continue;
    const parentExists = path.length === 1 || getAt(validated, path.slice(0, -1)) !== undefined;
    const given = getAt(validated, path) !== undefined;
    const moved = parentExists && !given ? movedFields(type, key, current.config, validated) : [];
    if (parentExists && !given && moved.length === 0) kept.set(key, ref);
    else dropped.push(ref);
    if (moved.length > 0) discarded.set(key, moved);
  }
  const config = withGeneratedKey(type, validated, new Set(kept.keys()));
  const { plain, secrets } = splitSecrets(config, secretPaths);
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

  const saved = await CONNECTORS[type].onSave(rt, {
    tenantId,
    connectionId,
    config: config as never,
    secret: async (path) => {
      const fresh = secrets.get(path);
      if (fresh !== undefined) return fresh;
      const ref = kept.get(path);
      return ref === undefined ? undefined : rt.secrets.get(ref);
    },
    previous: current,
  });
  const unset: Finding[] = missing.map((key) => {
    const moved = discarded.get(key);
    return {
      code: 'secret_missing',
      message: moved
        ? `${type}.${key} was discarded because ${moved.map((f) => `${type}.${f}`).join(', ')} changed; set it again.`
        : `${type}.${key} is not set; set it again.`,
    };
  });
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
    await dropSecrets(rt, Object.values(newRefs));
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
  const [missing] = missingSecrets(connection.type, connection.config, Object.keys(connection.secretRefs));
  if (missing !== undefined) throw secretMissing(`${connection.type}.${missing}`);
  return connection;
}

export async function testConnection(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  connectionId: string,
) {
  await tenantToManage(rt, principal, tenantId);
  const connection = await usableConnection(rt, tenantId, connectionId);
  const connector = connectorOf(connection);
  if (!connector.liveTest) {
    throw new AppError(400, 'not_supported', `A ${connection.type} connection has no live test yet.`);
  }
  const result = await connector.liveTest(rt, connection);
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
  const connection = await usableConnection(rt, tenantId, connectionId);
  const connector = connectorOf(connection);
  if (!connector.directoryGroups) {
    throw new AppError(400, 'not_supported', 'Only LDAP connections have directory groups.');
  }
  return connector.directoryGroups(rt, connection, query);
}
