import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  type Connector,
  isConnectionId,
  OPTIONAL_CAPABILITIES,
  REQUIRED_MEMBERS,
} from '../../shared/connections/contract.ts';
import { CONNECTORS, connectorOf } from '../../shared/connections/registry.ts';
import { CONNECTION_TYPES, PROTOCOL_CONFIGS } from '../../shared/connections/schema.ts';
import { isAppError } from '../../shared/errors.ts';
import { runLogin } from '../../shared/identity/login.ts';
import type { Runtime } from '../../shared/runtime.ts';

/**
 * The connector contract (shared/connections/contract.ts) and the registry: one connector per
 * connection type, each with the contract's members. A fourth protocol is a new folder exporting
 * one `Connector` and one line in registry.ts; this test then checks it like the others.
 */
describe('the connector registry', () => {
  it('has exactly one connector per connection type, each of its own type', () => {
    expect(Object.keys(CONNECTORS).sort()).toEqual([...CONNECTION_TYPES].sort());
    for (const type of CONNECTION_TYPES) {
      expect(CONNECTORS[type].type).toBe(type);
      expect(connectorOf({ type })).toBe(CONNECTORS[type]);
    }
  });

  it.each(CONNECTION_TYPES)('%s: has every member of the contract', (type) => {
    const connector = connectorOf({ type }) as Connector & Record<string, unknown>;
    for (const member of REQUIRED_MEMBERS) expect(connector[member], member).toBeDefined();
    for (const method of ['requiredSecrets', 'sp', 'onSave', 'verify'] as const) {
      expect(typeof connector[method], method).toBe('function');
    }
    for (const capability of OPTIONAL_CAPABILITIES) {
      if (connector[capability] !== undefined)
        expect(typeof connector[capability], capability).toBe('function');
    }
  });

  it.each(CONNECTION_TYPES)('%s: parses its config with its strict schema (unknown keys refused)', (type) => {
    const { schema } = connectorOf({ type });
    expect(schema).toBe(PROTOCOL_CONFIGS[type]);
    const refused = schema.safeParse({ notAnOption: true });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues.map((i) => i.code)).toContain('unrecognized_keys');
  });

  it.each(CONNECTION_TYPES)('%s: binds every secret path to its destinations', (type) => {
    const connector = connectorOf({ type });
    expect(Object.keys(connector.secretDestinations).sort()).toEqual(
      connector.secretPaths.map((p) => p.join('.')).sort(),
    );
  });

  it('gives the optional capabilities to the protocols that have them', () => {
    const has = (capability: (typeof OPTIONAL_CAPABILITIES)[number]) =>
      CONNECTION_TYPES.filter((type) => connectorOf({ type })[capability] !== undefined);
    // LDAP alone re-reads authorization without the user and lists directory groups.
    expect(has('refresh')).toEqual(['ldap']);
    expect(has('directoryGroups')).toEqual(['ldap']);
    expect(has('liveTest')).toEqual(['saml', 'oidc', 'ldap']);
    // SAML alone keeps secrets of its own making outside secretRefs (the generated SP keys).
    expect(has('ownedSecrets')).toEqual(['saml']);
    // SAML alone has SP keys to rotate.
    expect(has('spKeys')).toEqual(['saml']);
  });
});

describe('connection ids', () => {
  it('are UUIDs: every real id passes, junk does not', () => {
    for (let i = 0; i < 20; i++) expect(isConnectionId(randomUUID())).toBe(true);
    for (const junk of [
      '',
      'no-such-connection',
      'x'.repeat(36),
      `${randomUUID()}x`,
      randomUUID().toUpperCase(),
      '../../admin',
      'a'.repeat(129),
    ]) {
      expect(isConnectionId(junk), junk).toBe(false);
    }
  });
});

describe('runLogin', () => {
  /** A runtime whose store fails the test if read: junk ids must be answered without a read. */
  const runtimeWithoutStore = () => {
    const publish = vi.fn(async () => undefined);
    const db = new Proxy(
      {},
      {
        get: () => {
          throw new Error('the store was read');
        },
      },
    );
    return { rt: { db, events: { publish } } as unknown as Runtime, publish };
  };

  it.each(CONNECTION_TYPES)(
    '%s: answers 404 not_found for a junk id without a read, and records nothing (no one owns it)',
    async (type) => {
      const { rt, publish } = runtimeWithoutStore();
      const step = vi.fn(async () => 'never');
      const error = await runLogin(rt, type, 'no-such-connection', step).catch((e: unknown) => e);
      expect(isAppError(error) && { status: error.status, code: error.code }).toEqual({
        status: 404,
        code: 'not_found',
      });
      expect(step).not.toHaveBeenCalled();
      // random ids must not feed the login-failure alarm
      expect(publish).not.toHaveBeenCalled();
    },
  );
});
