import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { entities, type KeyBuilder, MalformedItemError } from '../../shared/store/entities.ts';
import { keys } from '../../shared/store/keys.ts';
import { decodeCursor, encodeCursor } from '../../shared/store/query.ts';

/**
 * Offline: key building, item schemas and cursors, with no table. The connected behaviour of the
 * same declarations is covered by the DynamoDB Local suites.
 */

const at = '2024-05-01T10:00:00.000Z';
const tenantId = 'acme';
const userId = '6f1c3a52-0d7e-4c1b-9a51-3b2f1e0c9d11';
const connectionId = '0b6a4f0e-7c55-4e0c-8f0b-2d1f5e8a7c21';

type Samples = { [K in keyof typeof entities]: Parameters<(typeof entities)[K]['item']>[0] };

const samples: Samples = {
  tenant: {
    id: tenantId,
    name: 'Acme',
    settings: {
      ssoEnabled: true,
      forbidPasswordLogin: false,
      passwordLoginRoles: ['owner', 'admin'],
      allowedRedirectUrls: [],
      sessionTtlSeconds: 28_800,
      loginThrottle: { maxFailuresPerAccount: 10, maxFailuresPerIp: 100, windowSeconds: 900 },
    },
    version: 3,
    createdAt: at,
    updatedAt: at,
  },
  connection: {
    id: connectionId,
    tenantId,
    type: 'oidc',
    name: 'Okta',
    enabled: true,
    config: { oidc: { issuer: 'https://idp.example.com' } },
    secretRefs: { 'oidc.clientSecret': 'ref-1' },
    provisioning: { mode: 'jit' } as Samples['connection']['provisioning'],
    authorization: {} as Samples['connection']['authorization'],
    compatibility: { compatible: false, problems: [{ code: 'x', message: 'y' }], warnings: [] },
    derived: { issuer: 'https://idp.example.com' },
    version: 1,
    createdAt: at,
    updatedAt: at,
  },
  idpEntity: { entityId: 'https://idp.example.com/saml', connectionId, tenantId },
  samlConnection: { connectionId, tenantId },
  user: {
    id: userId,
    email: 'ann@example.com',
    passwordHash: 'scrypt$1',
    emailVerified: true,
    version: 2,
    createdAt: at,
    updatedAt: at,
  },
  emailClaim: { email: 'ann@example.com', userId },
  membership: {
    tenantId,
    userId,
    role: 'admin',
    accessList: 'all',
    status: 'active',
    firstName: 'Ann',
    lastName: 'Lee',
    ssoOnly: false,
    ownPassword: true,
    version: 1,
    createdAt: at,
    updatedAt: at,
  },
  identityLink: {
    connectionId,
    tenantId,
    issuer: 'https://idp.example.com',
    subject: 'sub#1',
    userId,
    createdAt: at,
  },
  group: { id: 'g1', tenantId, name: 'Editors', description: 'Can edit', createdAt: at },
  externalRole: { id: 'x1', tenantId, connectionId, externalId: 'cn=eds', name: 'eds', createdAt: at },
  roleMapping: {
    tenantId,
    xroleId: 'x1',
    groupId: 'g1',
    accessLevel: 'member',
    connectionId,
    externalId: 'cn=eds',
    xroleName: 'eds',
    groupName: 'Editors',
  },
  replayGuard: { connectionId, assertionId: '_a#1', expiresAt: 1_900_000_000 },
  loginState: { id: 'st', kind: 'oidc', connectionId, expiresAt: 1_900_000_000, data: { nonce: 'n' } },
  session: {
    id: 's1',
    tenantId,
    userId,
    email: 'ann@example.com',
    role: 'member',
    groups: [{ id: 'g1', name: 'Editors', accessLevel: 'member' }],
    amr: 'ldap',
    connectionId,
    subject: 'entry-uuid',
    authzExpiresAt: 1_900_000_000,
    expiresAt: 1_900_000_000,
    createdAt: at,
    version: 1,
  },
  sessionCutoff: { tenantId, userId, sessionsValidAfter: at, expiresAt: 1_900_000_000 },
  apiToken: {
    id: 't1',
    hash: 'abc',
    userId,
    tenantId,
    name: 'ci',
    createdAt: at,
    expiresAtIso: at,
    expiresAt: 1_900_000_000,
    lastUsedAt: at,
  },
  attemptCounter: { scope: 'ip:1.2.3.4:w1', count: 2, expiresAt: 1_900_000_000 },
  passwordLink: {
    tokenHash: 'h',
    kind: 'invitation',
    userId,
    email: 'ann@example.com',
    tenantId,
    userVersion: 1,
    expiresAt: 1_900_000_000,
    createdAt: at,
  },
  setupLink: {
    id: 'l1',
    tenantId,
    tokenHash: 'h',
    note: 'For Okta',
    createdBy: { actor: 'user', actorUserId: userId, actorVia: 'session' },
    createdAt: at,
    expiresAtIso: at,
    expiresAt: 1_900_000_000,
    usedAt: at,
    sessionHash: 's',
  },
  setupToken: { hash: 'h', tenantId, linkId: 'l1', expiresAt: 1_900_000_000 },
  setupSession: { hash: 's', tenantId, linkId: 'l1', expiresAt: 1_900_000_000 },
  tenantDomain: {
    tenantId,
    domain: 'example.com',
    status: 'verified',
    token: 'tok',
    createdAt: at,
    verifiedAt: at,
    verifiedBy: 'dns',
  },
  domainClaim: { domain: 'example.com', tenantId, verifiedAt: at, verifiedBy: 'operator' },
  auditRecord: { id: 'e1', type: 'member.added', time: at, tenantId, detail: { userId }, expiresAt: 1 },
  application: {
    clientId: connectionId,
    name: 'Portal',
    type: 'confidential',
    redirectUris: ['https://app.example.com/callback'],
    postLogoutRedirectUris: [],
    initiateLoginUri: 'https://app.example.com/login',
    tenants: [tenantId],
    resources: ['https://api.example.com/'],
    secretRef: 'ref-2',
    version: 1,
    createdAt: at,
    updatedAt: at,
  },
  applicationIndex: { clientId: connectionId },
  oauthArtifact: {
    model: 'Grant',
    id: 'g1',
    payload: '{"accountId":"x"}',
    expiresAt: 1,
    ssoSid: 's1',
    tenantId,
  },
};

/** What reading an item back yields where only part of the written value is stored. */
const readBack: Partial<Record<keyof typeof entities, unknown>> = {
  idpEntity: samples.idpEntity,
  emailClaim: { userId },
  replayGuard: { expiresAt: 1_900_000_000 },
  attemptCounter: { count: 2, expiresAt: 1_900_000_000 },
  passwordLink: (({ tokenHash: _h, ...link }) => link)(samples.passwordLink),
  setupToken: { tenantId, linkId: 'l1', expiresAt: 1_900_000_000 },
  setupSession: { tenantId, linkId: 'l1', expiresAt: 1_900_000_000 },
  applicationIndex: samples.applicationIndex,
};

const names = Object.keys(entities) as (keyof typeof entities)[];
const entity = (name: keyof typeof entities) =>
  entities[name] as unknown as {
    name: string;
    key: KeyBuilder;
    item(value: unknown): Record<string, unknown>;
    keysOf(value: unknown): Record<string, unknown>;
    parse(item: Record<string, unknown>): unknown;
  };

describe('item declarations', () => {
  it.each(names)('%s: the item carries its keys and entity, and reads back as written', (name) => {
    const e = entity(name);
    const item = e.item(samples[name]);
    expect(item.entity).toBe(e.name);
    expect(item).toMatchObject(e.keysOf(samples[name]));
    expect(e.parse(item)).toEqual(readBack[name] ?? samples[name]);
  });

  it('keeps the stored attribute names of existing items', () => {
    expect(entities.user.item(samples.user)).toEqual({
      pk: `USER#${userId}`,
      sk: 'USER',
      entity: 'user',
      ...samples.user,
    });
    expect(entities.membership.item(samples.membership)).toMatchObject({
      pk: 'TENANT#acme',
      sk: `MEMBER#${userId}`,
      gsi1pk: `USER#${userId}`,
      gsi1sk: 'TENANT#acme',
      entity: 'membership',
    });
    expect(entities.emailClaim.item(samples.emailClaim)).toEqual({
      pk: 'EMAIL#ann@example.com',
      sk: 'EMAIL',
      entity: 'email',
      userId,
    });
    expect(entities.session.item(samples.session)).toMatchObject({
      pk: 'SESSION#s1',
      gsi1sk: 'SESSION#acme#s1',
    });
    expect(entities.auditRecord.key(tenantId, at, 'e1')).toEqual({ pk: 'TENANT#acme', sk: `AUDIT#${at}#e1` });
  });

  it('reads older items the way it always has (absent optional fields, legacy absent ssoOnly)', () => {
    const legacy = entities.membership.item(samples.membership);
    for (const field of ['ssoOnly', 'accessList', 'ownPassword', 'firstName']) delete legacy[field];
    legacy.lastName = '';
    const m = entities.membership.parse(legacy);
    expect(m).toMatchObject({ ssoOnly: false, accessList: [] });
    expect(m).not.toHaveProperty('ownPassword');
    expect(m).not.toHaveProperty('firstName');
    expect(m).not.toHaveProperty('lastName');

    const conn = entities.connection.item(samples.connection);
    for (const field of ['secretRefs', 'compatibility', 'derived']) delete conn[field];
    expect(entities.connection.parse(conn)).toMatchObject({
      secretRefs: {},
      compatibility: { compatible: true, problems: [], warnings: [] },
    });
    expect(entities.connection.parse(conn)).not.toHaveProperty('derived');

    const user = entities.user.item({ ...samples.user });
    delete user.emailVerified;
    delete user.passwordHash;
    expect(entities.user.parse(user)).toEqual({
      ...samples.user,
      emailVerified: false,
      passwordHash: undefined,
    });
    expect(
      entities.passwordLink.parse({ ...entities.passwordLink.item(samples.passwordLink), kind: 'x' }).kind,
    ).toBe('reset');
  });

  it('drops the key attributes and anything undeclared on read', () => {
    const item = { ...entities.apiToken.item(samples.apiToken), stray: 1 };
    expect(Object.keys(entities.apiToken.parse(item)).sort()).toEqual(Object.keys(samples.apiToken).sort());
  });

  it('refuses a malformed item with an internal error naming the entity', () => {
    const item = { ...entities.session.item(samples.session), groups: 'all' };
    let thrown: unknown;
    try {
      entities.session.parse(item);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect(thrown).toMatchObject({ status: 500, code: 'internal_error', expose: false });
    const cause = (thrown as AppError).cause;
    expect(cause).toBeInstanceOf(MalformedItemError);
    expect(cause).toMatchObject({ entity: 'session' });
    expect((cause as Error).message).toMatch(/session item is malformed.*groups/s);
  });
});

describe('keys', () => {
  it('leaves the keys of ids in use unchanged, and escapes # only where another part follows', () => {
    expect(keys.identity(connectionId, 'a#b')).toEqual({
      pk: `IDENTITY#${connectionId}#a#b`,
      sk: 'IDENTITY',
    });
    expect(keys.identity('c#1', 's')).toEqual({ pk: 'IDENTITY#c%231#s', sk: 'IDENTITY' });
    expect(keys.mapping(tenantId, 'x#1', 'g#1').sk).toBe('MAP#x%231#g#1');
    expect(
      keys.mapping(tenantId, 'x#1', 'g').sk.startsWith(keys.mappingsOfXrole(tenantId, 'x#1').skPrefix),
    ).toBe(true);
    expect(
      keys.mapping(tenantId, 'x#1', 'g').sk.startsWith(keys.mappingsOfXrole(tenantId, 'x').skPrefix),
    ).toBe(false);
  });

  it('never builds one pk/sk pair for two different entities or ids', () => {
    const id = fc.string({
      unit: fc.constantFrom('#', '%', '2', '3', 'A', 'C', 'T', 'E', 'a', '-'),
      maxLength: 6,
    });
    const idsFor = (name: keyof typeof entities) =>
      fc.array(id, { minLength: entity(name).key.length, maxLength: entity(name).key.length });
    const someKey = fc.constantFrom(...names).chain((name) => fc.tuple(fc.constant(name), idsFor(name)));
    /**
     * A second key built to meet the first: the same `#`-joined text regrouped into ids (what an
     * unescaped separator would confuse), or ids cut from the first key's own pk and sk.
     */
    const rival = ([name, ids]: [keyof typeof entities, string[]]) => {
      const key = entity(name).key(...ids);
      const pieces = [
        ...ids.join('#').split('#'),
        ...key.pk.split('#'),
        ...key.sk.split('#'),
        key.pk,
        key.sk,
      ];
      return fc.constantFrom(...names).chain((other) =>
        fc.tuple(
          fc.constant(other),
          fc.array(
            fc
              .array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 4 })
              .map((parts) => parts.join('#')),
            { minLength: entity(other).key.length, maxLength: entity(other).key.length },
          ),
        ),
      );
    };
    const regrouped = ([name, ids]: [keyof typeof entities, string[]]) =>
      fc
        .array(fc.boolean(), { minLength: 16, maxLength: 16 })
        .map((cuts): [keyof typeof entities, string[]] => {
          // Move the id boundaries to other `#`s of the joined text, keeping the number of ids.
          const parts = ids.join('#').split('#');
          const regroupedIds: string[] = [];
          let current = parts[0] ?? '';
          for (let i = 1; i < parts.length; i++) {
            if (cuts[i % cuts.length] && regroupedIds.length < ids.length - 1) {
              regroupedIds.push(current);
              current = parts[i] ?? '';
            } else current = `${current}#${parts[i]}`;
          }
          regroupedIds.push(current);
          while (regroupedIds.length < ids.length) regroupedIds.push('');
          return [name, regroupedIds];
        });
    const pair = someKey.chain((first) =>
      fc.tuple(fc.constant(first), fc.oneof(someKey, rival(first), regrouped(first))),
    );
    fc.assert(
      fc.property(pair, ([[nameA, idsA], [nameB, idsB]]) => {
        const sameThing = nameA === nameB && idsA.every((v, i) => v === idsB[i]);
        const a = entity(nameA).key(...idsA);
        const b = entity(nameB).key(...idsB);
        const sameKey = a.pk === b.pk && a.sk === b.sk;
        return sameThing ? sameKey : !sameKey;
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('cursors', () => {
  const members = keys.membersOf(tenantId);

  it('hands back the key it was made from, within its partition', () => {
    const last = keys.member(tenantId, userId);
    expect(decodeCursor(encodeCursor(last), members)).toEqual(last);
  });

  it('refuses a cursor of another partition, another listing, or another shape', () => {
    expect(decodeCursor(encodeCursor(keys.member('other', userId)), members)).toBeUndefined();
    expect(decodeCursor(encodeCursor(keys.group(tenantId, 'g1')), members)).toBeUndefined();
    const extra = Buffer.from(JSON.stringify({ ...keys.member(tenantId, userId), gsi1pk: 'x' })).toString(
      'base64url',
    );
    expect(decodeCursor(extra, members)).toBeUndefined();
    expect(decodeCursor('not-a-cursor', members)).toBeUndefined();
    expect(decodeCursor(Buffer.from('[1,2]').toString('base64url'), members)).toBeUndefined();
  });
});
