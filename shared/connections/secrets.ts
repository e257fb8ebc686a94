import { generateKeyPairSync } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Errors } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import type { SecretPath } from './contract.ts';
import { type Connection, type Finding, secretMissing } from './model.ts';
import { connectorOf } from './registry.ts';
import type { ConnectionType } from './schema.ts';

/**
 * A connection's secrets: write-only fields (the connector's `secretPaths`) split off the protocol
 * object and kept in the secrets port, each bound to where it is sent (`secretDestinations`). The
 * CRUD in service.ts calls these; nothing here touches the connection item.
 */

export const pathKey = (path: SecretPath) => path.join('.');

export function getAt(object: unknown, path: SecretPath): unknown {
  let node = object;
  for (const part of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Splits a validated protocol config into its plain part and its secret values. */
export function splitSecrets(config: Record<string, unknown>, paths: readonly SecretPath[]) {
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
export function withGeneratedKey(type: ConnectionType, config: Record<string, unknown>, keep: Set<string>) {
  if (type !== 'oidc' || config.tokenEndpointAuthMethod !== 'private_key_jwt') return config;
  if (config.privateKeyPem !== undefined || keep.has('privateKeyPem')) return config;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...config, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The secrets `config` cannot work without that are not in `have` (dot-joined paths). */
export const missingSecrets = (type: ConnectionType, config: unknown, have: Iterable<string>): string[] => {
  const present = new Set(have);
  return connectorOf({ type })
    .requiredSecrets(config)
    .map(pathKey)
    .filter((key) => !present.has(key));
};

export const secretRequired = (type: ConnectionType, key: string) =>
  Errors.invalidRequest(`${type}.${key} is required.`, [{ path: `${type}.${key}`, message: 'is required' }]);

/**
 * The destination fields (the connector's `secretDestinations`) of a secret that differ between the
 * stored config and the new one. The stored one is read through the schema first, so a default
 * added since it was saved does not count as a move.
 */
function movedFields(
  type: ConnectionType,
  key: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  const connector = connectorOf({ type });
  const fields = connector.secretDestinations;
  const parsed = connector.schema.safeParse(before);
  const old = (parsed.success ? parsed.data : before) as Record<string, unknown>;
  // A secret nobody declared a destination for is treated as bound to every field.
  const bound = Object.hasOwn(fields, key)
    ? (fields[key] ?? [])
    : [...new Set([...Object.keys(old), ...Object.keys(after)])];
  return bound.filter((field) => !isDeepStrictEqual(old[field], after[field]));
}

/**
 * What a PATCH does to the stored secrets. A stored secret stays while the object holding it still
 * exists, no new value replaced it, and the connection still sends it where it went before.
 * Secrets are bound to where they go: once the URL, issuer or endpoint that receives one changes,
 * the stored value is discarded (deleted, not only unreferenced) unless this request gives it
 * again, so a tenant admin cannot point the connection at a host of theirs and have the stored
 * secret delivered there. A secret the PATCH sets to null is removed (deleted) like a replaced one.
 */
export function reconcileSecrets(
  current: Connection,
  validated: Record<string, unknown>,
  /** The protocol object of the PATCH itself: a secret it sets to null is removed. */
  patch: unknown = {},
) {
  const kept = new Map<string, string>();
  const dropped: string[] = [];
  const discarded = new Map<string, string[]>();
  for (const path of connectorOf(current).secretPaths) {
    const key = pathKey(path);
    const ref = current.secretRefs[key];
    if (ref === undefined) continue;
    const parentExists = path.length === 1 || getAt(validated, path.slice(0, -1)) !== undefined;
    const given = getAt(validated, path) !== undefined || getAt(patch, path) === null;
    const moved = parentExists && !given ? movedFields(current.type, key, current.config, validated) : [];
    if (parentExists && !given && moved.length === 0) kept.set(key, ref);
    else dropped.push(ref);
    if (moved.length > 0) discarded.set(key, moved);
  }
  return { kept, dropped, discarded };
}

/** The findings a saved connection reports for required secrets it does not have. */
export const unsetSecretFindings = (
  type: ConnectionType,
  missing: string[],
  discarded: Map<string, string[]>,
): Finding[] =>
  missing.map((key) => {
    const moved = discarded.get(key);
    return {
      code: 'secret_missing',
      message: moved
        ? `${type}.${key} was discarded because ${moved.map((f) => `${type}.${f}`).join(', ')} changed; set it again.`
        : `${type}.${key} is not set; set it again.`,
    };
  });

/**
 * Refuses a connection the live calls would use without a secret it needs: checked before any
 * network call, so a connection whose secret was discarded sends nothing anywhere.
 */
export function requireStoredSecrets(connection: Connection): void {
  const [missing] = missingSecrets(connection.type, connection.config, Object.keys(connection.secretRefs));
  if (missing !== undefined) throw secretMissing(`${connection.type}.${missing}`);
}

export async function storeSecrets(
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
export async function dropSecrets(rt: Runtime, refs: string[]): Promise<void> {
  await Promise.allSettled(refs.map((ref) => rt.secrets.delete(ref)));
}
