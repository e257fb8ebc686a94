import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import {
  AndFilter,
  BerReader,
  BerWriter,
  BindRequest,
  EqualityFilter,
  ExtendedRequest,
  PresenceFilter,
  SearchRequest,
} from 'ldapts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Configured, configured } from '../../shared/connections/contract.ts';
import type { Connection } from '../../shared/connections/model.ts';
import { LdapConfig } from '../../shared/connections/schema.ts';
import { Directory, DirectoryUnavailable } from '../../shared/ldap/client.ts';
import { SERVICE_ACCOUNT_SECRET } from '../../shared/ldap/directory.ts';
import { IN_CHAIN_RULE } from '../../shared/ldap/groups.ts';
import { authenticate } from '../../shared/ldap/login.ts';
import { refreshLdapAuthorization } from '../../shared/ldap/refresh.ts';
import { LocalSecretStore } from '../../shared/ports/secrets.ts';
import type { Runtime } from '../../shared/runtime.ts';
import type { SessionRecord } from '../../shared/store/sessions.ts';
import { freePort, makeTestCa } from '../helpers/slapd.ts';

/**
 * The Active Directory code paths (UPN bind, objectGUID, userAccountControl, the in-chain matching
 * rule) against a scripted directory that answers like AD, since slapd takes no UPN binds. It speaks
 * LDAP through ldapts' own BER classes and records every request, so the tests check the requests'
 * shape. It also checks what happens when the server drops the connection mid-login.
 */
const NC = 'DC=corp,DC=test';
const AD_CAPABILITY = '1.2.840.113556.1.4.800';
const STARTTLS = '1.3.6.1.4.1.1466.20037';
const guid = (hex: string) => Buffer.from(hex, 'hex');

interface FakeEntry {
  dn: string;
  password?: string;
  attributes: Record<string, (string | Buffer)[]>;
}

const adam: FakeEntry = {
  dn: `CN=Adam Admin,CN=Users,${NC}`,
  password: 'adam-pw',
  attributes: {
    objectClass: ['user'],
    userPrincipalName: ['adam@corp.test'],
    mail: ['adam.admin@corp.test'],
    givenName: ['Adam'],
    sn: ['Admin'],
    userAccountControl: ['512'],
    objectGUID: [guid('00112233445566778899aabbccddeeff')],
    memberOf: [`CN=Eng,CN=Groups,${NC}`],
  },
};
const dora: FakeEntry = {
  dn: `CN=Dora Disabled,CN=Users,${NC}`,
  password: 'dora-pw',
  attributes: {
    userPrincipalName: ['dora@corp.test'],
    userAccountControl: ['514'],
    objectGUID: [guid('ffeeddccbbaa99887766554433221100')],
  },
};
const svc: FakeEntry = { dn: `CN=svc,CN=Users,${NC}`, password: 'svc-pw', attributes: {} };
const eng: FakeEntry = {
  dn: `CN=Eng,CN=Groups,${NC}`,
  attributes: { cn: ['Eng'], objectGUID: [guid('0102030405060708090a0b0c0d0e0f10')] },
};
const staff: FakeEntry = {
  dn: `CN=Staff,CN=Groups,${NC}`,
  attributes: { cn: ['Staff'], objectGUID: [guid('1112131415161718191a1b1c1d1e1f20')] },
};
const ENG_ID = '04030201-0605-0807-090a-0b0c0d0e0f10';
const STAFF_ID = '14131211-1615-1817-191a-1b1c1d1e1f20';
const ADAM_ID = '33221100-5544-7766-8899-aabbccddeeff';

interface Seen {
  connections: number;
  /** Connections that have ended (closed by either side). */
  closed: number;
  binds: { name: string; password: string; tls: boolean }[];
  searches: { base: string; scope: string; filter: string; raw: Buffer }[];
}

/** An LDAP server that answers like Active Directory, from the entries above. */
class FakeAd {
  readonly seen: Seen = { connections: 0, closed: 0, binds: [], searches: [] };
  /** Drop the connection right after answering a search whose filter contains this. */
  dropAfter: string | undefined;
  /** Never answer a search whose filter contains this. */
  silentOn: string | undefined;
  /** Answer a root DSE search with this result code instead of the entry. */
  rootDseError: number | undefined;
  /** What the root DSE says. */
  rootDse: Record<string, string[]> = {
    defaultNamingContext: [NC],
    namingContexts: [NC],
    supportedCapabilities: [AD_CAPABILITY],
  };
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  /** `implicitTls`: TLS from the first byte (ldaps), else StartTLS. The certificate can be swapped. */
  constructor(
    public tls: SecureContext,
    private readonly implicitTls = false,
  ) {
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  /** Drops every open connection, as a directory restart or an idle timeout would. */
  dropAll(): void {
    for (const s of this.#sockets) s.destroy();
  }

  reset(): void {
    this.seen.connections = 0;
    this.seen.closed = 0;
    this.seen.binds = [];
    this.seen.searches = [];
    this.dropAfter = undefined;
    this.silentOn = undefined;
  }

  #accept(raw: Socket): void {
    this.seen.connections += 1;
    this.#sockets.add(raw);
    raw.on('error', () => undefined);
    raw.on('close', () => {
      this.seen.closed += 1;
    });
    let socket: Socket = raw;
    let secure = false;
    if (this.implicitTls) {
      socket = new TLSSocket(raw, { isServer: true, secureContext: this.tls });
      socket.on('error', () => undefined);
      secure = true;
    }
    let buffer = Buffer.alloc(0);
    let bound = false;
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let frame = takeFrame(buffer); frame; frame = takeFrame(buffer)) {
        buffer = buffer.subarray(frame.length);
        const reader = new BerReader(frame);
        reader.readSequence();
        const messageId = reader.readInt() ?? 0;
        const op = reader.readSequence();
        if (op === 0x60) {
          const bind = new BindRequest({ messageId });
          bind.parse(reader, []);
          this.seen.binds.push({ name: bind.dn, password: bind.password, tls: secure });
          const who = [adam, dora, svc].find(
            (e) => e.dn === bind.dn || e.attributes.userPrincipalName?.[0] === bind.dn.toLowerCase(),
          );
          bound = who !== undefined && who.password === bind.password;
          socket.write(
            result(messageId, 0x61, bound ? 0 : 49, bound ? '' : 'AcceptSecurityContext error, data 52e'),
          );
        } else if (op === 0x77) {
          const ext = new ExtendedRequest({ messageId });
          ext.parse(reader, []);
          socket.write(result(messageId, 0x78, ext.oid === STARTTLS ? 0 : 2));
          if (ext.oid === STARTTLS) {
            socket.removeListener('data', onData);
            const upgraded = new TLSSocket(socket, { isServer: true, secureContext: this.tls });
            upgraded.on('error', () => undefined);
            upgraded.on('data', onData);
            socket = upgraded;
            secure = true;
          }
        } else if (op === 0x63) {
          const search = new SearchRequest({
            messageId,
            filter: new PresenceFilter({ attribute: 'objectClass' }),
          });
          search.parse(reader, []);
          const filter = search.filter.toString();
          this.seen.searches.push({ base: search.baseDN, scope: search.scope, filter, raw: frame });
          if (this.silentOn && filter.includes(this.silentOn)) continue;
          if (this.rootDseError !== undefined && search.baseDN === '' && search.scope === 'base') {
            socket.write(result(messageId, 0x65, this.rootDseError));
            continue;
          }
          for (const entry of this.#answer(search, bound)) socket.write(entryMessage(messageId, entry));
          socket.write(result(messageId, 0x65, 0));
          if (this.dropAfter && filter.includes(this.dropAfter)) socket.destroy();
        } else if (op === 0x42) {
          socket.end();
        }
      }
    };
    socket.on('data', onData);
  }

  #answer(search: SearchRequest, bound: boolean): FakeEntry[] {
    if (search.baseDN === '' && search.scope === 'base') return [{ dn: '', attributes: this.rootDse }];
    // AD refuses searches before a bind ("In order to perform this operation a successful bind…").
    if (!bound) return [];
    const filter = search.filter;
    const text = filter.toString();
    if (text.includes(IN_CHAIN_RULE)) return [eng, staff];
    if (search.scope === 'base') return [eng, staff].filter((g) => g.dn === search.baseDN);
    const parts = filter instanceof AndFilter ? filter.filters : [filter];
    const upn = parts.find((f) => f instanceof EqualityFilter && f.attribute === 'userprincipalname');
    if (upn instanceof EqualityFilter) {
      return [adam, dora].filter(
        (u) => u.attributes.userPrincipalName?.[0] === String(upn.value).toLowerCase(),
      );
    }
    if (filter instanceof EqualityFilter && filter.attribute === 'objectguid') {
      // The value went out as raw bytes; ldapts decodes it as text here, so match on the frame.
      const raw = this.seen.searches.at(-1)?.raw ?? Buffer.alloc(0);
      return [adam].filter((u) => raw.includes(u.attributes.objectGUID?.[0] as Buffer));
    }
    return [];
  }
}

/** One complete LDAPMessage (a BER SEQUENCE) from the start of the buffer, if it is all there. */
function takeFrame(buffer: Buffer): Buffer | undefined {
  if (buffer.length < 2) return undefined;
  const first = buffer[1] ?? 0;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (buffer.length < 2 + count) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buffer[2 + i] ?? 0);
    header = 2 + count;
  }
  return buffer.length >= header + length ? buffer.subarray(0, header + length) : undefined;
}

function result(messageId: number, tag: number, code: number, message = ''): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(messageId);
  w.startSequence(tag);
  w.writeEnumeration(code);
  w.writeString('');
  w.writeString(message);
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

function entryMessage(messageId: number, entry: FakeEntry): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(messageId);
  w.startSequence(0x64);
  w.writeString(entry.dn);
  w.startSequence();
  for (const [type, values] of Object.entries(entry.attributes)) {
    w.startSequence();
    w.writeString(type);
    w.startSequence(0x31);
    for (const value of values) {
      if (Buffer.isBuffer(value)) w.writeBuffer(value, 0x04);
      else w.writeString(value);
    }
    w.endSequence();
    w.endSequence();
  }
  w.endSequence();
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

let ad: FakeAd;
let url: string;
let caPem: string;
let scratch: string;
/** The fake's certificate (signed by caPem), and one signed by another CA. */
let trustedTls: SecureContext;
let untrustedTls: SecureContext;
let otherCaPem: string;
const secrets = new LocalSecretStore();
const rt = {
  config: { ALLOW_PRIVATE_URLS: true },
  secrets,
  events: { publish: async () => undefined },
} as unknown as Runtime;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'fake-ad-'));
  const [ca, other] = await Promise.all([
    makeTestCa(scratch, 'Fake AD CA'),
    makeTestCa(join(scratch, 'other'), 'Some Other CA'),
  ]);
  caPem = ca.caPem;
  otherCaPem = other.caPem;
  trustedTls = createSecureContext({ cert: readFileSync(ca.certFile), key: readFileSync(ca.keyFile) });
  untrustedTls = createSecureContext({
    cert: readFileSync(other.certFile),
    key: readFileSync(other.keyFile),
  });
  ad = new FakeAd(trustedTls);
  url = `ldap://127.0.0.1:${await ad.listen()}`;
});
afterAll(async () => {
  await ad?.close();
  rmSync(scratch, { recursive: true, force: true });
});
beforeEach(() => ad.reset());

async function connectionOf(
  ldap: Record<string, unknown>,
  password?: string,
): Promise<Configured<LdapConfig>> {
  const secretRefs: Record<string, string> = password
    ? { [SERVICE_ACCOUNT_SECRET]: await secrets.put('svc', password) }
    : {};
  const connection: Connection = {
    id: 'conn-ad',
    tenantId: 'tenant-ad',
    type: 'ldap',
    name: 'AD',
    enabled: true,
    config: { url, caPem, ...ldap },
    secretRefs,
    provisioning: {
      mode: 'jit',
      defaultRole: 'member',
      attributeMap: {},
      profileSync: 'each_login',
      verifiedDomains: [],
    },
    authorization: { enabled: true, ttlSeconds: 600 },
    compatibility: { compatible: true, problems: [], warnings: [] },
    version: 1,
    createdAt: '',
    updatedAt: '',
  };
  return configured(connection, LdapConfig);
}

const login = async (connection: Configured<LdapConfig>, email: string, password: string) =>
  authenticate(rt, connection, { email, password });

const upnInChain = {
  dnResolution: { method: 'upn' },
  groupSearch: { baseDn: NC, objectClass: 'group', memberAttribute: 'member', nested: true },
};

describe('UPN login against an Active Directory-like server', () => {
  it('binds with the email itself, after StartTLS, and takes objectGUID as the subject', async () => {
    const outcome = await login(await connectionOf(upnInChain), 'adam@corp.test', 'adam-pw');
    expect(outcome.ok).toBe(true);
    expect(ad.seen.binds).toEqual([{ name: 'adam@corp.test', password: 'adam-pw', tls: true }]);
    expect(ad.seen.searches.find((s) => s.filter.startsWith('(userprincipalname='))).toMatchObject({
      base: NC,
      scope: 'sub',
      filter: '(userprincipalname=adam@corp.test)',
    });
    if (!outcome.ok) return;
    expect(outcome.identity).toMatchObject({
      protocol: 'ldap',
      issuer: url.replace(/:(\d+)$/, ':$1').toLowerCase(),
      subject: ADAM_ID,
      email: 'adam@corp.test',
      emailVerified: true,
      attributes: { firstName: 'Adam', lastName: 'Admin', mail: 'adam.admin@corp.test' },
      externalGroups: [ENG_ID, STAFF_ID].sort(),
    });
  });

  it('finds nested groups with the in-chain matching rule in one search', async () => {
    await login(await connectionOf(upnInChain), 'adam@corp.test', 'adam-pw');
    expect(ad.seen.searches.at(-1)).toMatchObject({
      base: NC,
      filter: `(&(objectclass=group)(member:${IN_CHAIN_RULE}:=CN=Adam Admin,CN=Users,${NC}))`,
    });
  });

  it('uses the in-chain rule from the naming context for memberOf, and reads plain memberOf by DN', async () => {
    await login(
      await connectionOf({ dnResolution: { method: 'upn' }, groupSearch: { memberOf: true, nested: true } }),
      'adam@corp.test',
      'adam-pw',
    );
    expect(ad.seen.searches.at(-1)?.filter).toBe(`(member:${IN_CHAIN_RULE}:=CN=Adam Admin,CN=Users,${NC})`);
    ad.reset();
    const flat = await login(
      await connectionOf({ dnResolution: { method: 'upn' }, groupSearch: { memberOf: true } }),
      'adam@corp.test',
      'adam-pw',
    );
    expect(ad.seen.searches.at(-1)).toMatchObject({ base: eng.dn, scope: 'base' });
    expect(flat.ok && flat.identity.externalGroups).toEqual([ENG_ID]);
  });

  it('refuses a disabled account (userAccountControl 0x2) after its password, and a wrong password before', async () => {
    const connection = await connectionOf(upnInChain);
    expect(await login(connection, 'dora@corp.test', 'dora-pw')).toEqual({
      ok: false,
      refusal: 'account_disabled',
    });
    expect(await login(connection, 'adam@corp.test', 'wrong')).toEqual({
      ok: false,
      refusal: 'wrong_password',
    });
  });

  it('sends no bind, and opens no connection, for an unusable password', async () => {
    for (const password of ['', ' ', '\0', 'adam-pw\0']) {
      expect(await login(await connectionOf(upnInChain), 'adam@corp.test', password)).toEqual({
        ok: false,
        refusal: 'unusable_password',
      });
    }
    expect(ad.seen.connections).toBe(0);
  });

  it('never sends a bind over a new plain socket after an operation timed out', async () => {
    // The trap: when an operation times out, ldapts drops its (StartTLS) socket and the next call
    // opens a fresh plain one for an ldap:// URL, so a bind would go out in clear. We refuse.
    const connection = await connectionOf({ ...upnInChain, timeoutMs: 300 });
    const directory = await Directory.open(connection.config, { allowPrivate: true });
    try {
      expect(directory.transport).toBe('starttls');
      ad.silentOn = 'cn=nobody';
      await expect(
        directory.search(NC, { scope: 'sub', filter: '(cn=nobody)', attributes: [] }),
      ).rejects.toMatchObject({ reason: 'timeout' });
      await expect(directory.bind(adam.dn, 'adam-pw')).rejects.toMatchObject({ reason: 'connect_failed' });
    } finally {
      await directory.close();
    }
    await new Promise((done) => setTimeout(done, 50));
    expect(ad.seen.connections).toBe(1);
    expect(ad.seen.binds).toEqual([]);
  });

  it('notices a connection the server dropped, even where ldapts does not', async () => {
    const connection = await connectionOf(upnInChain);
    const directory = await Directory.open(connection.config, { allowPrivate: true });
    try {
      ad.dropAll();
      await new Promise((done) => setTimeout(done, 100));
      const started = Date.now();
      await expect(directory.bind(adam.dn, 'adam-pw')).rejects.toMatchObject({ reason: 'connect_failed' });
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      await directory.close();
    }
    expect(ad.seen.connections).toBe(1);
    expect(ad.seen.binds).toEqual([]);
  });

  it('gives up a login when the server drops the connection midway, without binding the user', async () => {
    const connection = await connectionOf(
      {
        dnResolution: {
          method: 'search',
          baseDn: NC,
          userObjectClass: 'user',
          mailAttribute: 'userPrincipalName',
          serviceAccount: { dn: svc.dn },
        },
      },
      'svc-pw',
    );
    ad.dropAfter = 'userprincipalname=';
    await expect(login(connection, 'adam@corp.test', 'adam-pw')).rejects.toBeInstanceOf(DirectoryUnavailable);
    expect(ad.seen.connections).toBe(1);
    expect(ad.seen.binds.map((b) => b.name)).toEqual([svc.dn]);
  });
});

describe('authorization refresh against an Active Directory-like server', () => {
  const session = (subject: string): SessionRecord => ({
    id: 'session-1',
    tenantId: 'tenant-ad',
    userId: 'user-1',
    email: 'adam@corp.test',
    role: 'member',
    groups: [],
    amr: 'ldap',
    connectionId: 'conn-ad',
    subject,
    expiresAt: 0,
    createdAt: '',
    version: 1,
  });
  const searchWithAccount = (password: string) =>
    connectionOf(
      {
        dnResolution: { method: 'search', baseDn: NC, serviceAccount: { dn: svc.dn } },
        groupSearch: { baseDn: NC, objectClass: 'group', memberAttribute: 'member', nested: true },
      },
      password,
    );

  it('finds the user by objectGUID bytes with the service account and re-reads the groups', async () => {
    const outcome = await refreshLdapAuthorization(rt, await searchWithAccount('svc-pw'), session(ADAM_ID));
    expect(outcome).toEqual({ externalGroups: [ENG_ID, STAFF_ID].sort() });
    expect(ad.seen.binds.map((b) => b.name)).toEqual([svc.dn]);
    const lookup = ad.seen.searches.find((s) => s.filter.startsWith('(objectguid='));
    expect(lookup?.raw.includes(guid('00112233445566778899aabbccddeeff'))).toBe(true);
  });

  it("reports a user who is gone, and refuses to go on when the service account's password is wrong", async () => {
    expect(
      await refreshLdapAuthorization(
        rt,
        await searchWithAccount('svc-pw'),
        session('00000000-0000-4000-8000-000000000000'),
      ),
    ).toBe('gone');
    await expect(
      refreshLdapAuthorization(rt, await searchWithAccount('wrong'), session(ADAM_ID)),
    ).rejects.toMatchObject({ code: 'directory_unavailable', reason: 'service_account_refused' });
  });
});

const rootDseReads = (server: FakeAd) =>
  server.seen.searches.filter((s) => s.base === '' && s.scope === 'base').length;

/** Fakes of their own, each on its own port: the root DSE cache lives as long as this file. */
const fakes: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(fakes.map((f) => f.close()));
});

async function startFake(implicitTls = false): Promise<{ server: FakeAd; url: string }> {
  const server = new FakeAd(trustedTls, implicitTls);
  fakes.push(server);
  return { server, url: `${implicitTls ? 'ldaps' : 'ldap'}://127.0.0.1:${await server.listen()}` };
}

const targetOf = (over: { url: string; caPem?: string; insecure?: boolean; connectTimeoutMs?: number }) => ({
  caPem,
  insecure: false,
  connectTimeoutMs: 2000,
  timeoutMs: 2000,
  ...over,
});

/** Opens and closes a connection; what it knew of the root DSE. */
async function rootDseThrough(target: ReturnType<typeof targetOf>) {
  const directory = await Directory.open(target, { allowPrivate: true });
  await directory.close();
  return directory.rootDse;
}

function deferred() {
  let resolve: (value: unknown) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<unknown>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

describe('the root DSE, read once per directory and trust settings', () => {
  it.each([
    ['StartTLS', false],
    ['ldaps', true],
  ])(
    'over %s: read by the first login only; every login still connects and binds over TLS',
    async (_, implicitTls) => {
      const fake = await startFake(implicitTls);
      const connection = await connectionOf({ ...upnInChain, url: fake.url });
      for (let i = 0; i < 3; i++) {
        // The UPN search needs the naming context, the subject needs AD detection: both from the root DSE.
        const outcome = await login(connection, 'adam@corp.test', 'adam-pw');
        expect(outcome).toMatchObject({
          ok: true,
          identity: { subject: ADAM_ID, externalGroups: [ENG_ID, STAFF_ID] },
        });
      }
      expect(rootDseReads(fake.server)).toBe(1);
      expect(fake.server.seen.connections).toBe(3);
      const overTls = { name: 'adam@corp.test', password: 'adam-pw', tls: true };
      expect(fake.server.seen.binds).toEqual([overTls, overTls, overTls]);
    },
  );

  it('is read again for another directory, another transport or another CA, and each is kept apart', async () => {
    const a = await startFake();
    const b = await startFake();
    b.server.rootDse = { namingContexts: ['dc=other,dc=test'] };
    const targets = [
      targetOf({ url: a.url }),
      targetOf({ url: b.url }),
      targetOf({ url: a.url, caPem: `${caPem}\n${otherCaPem}` }),
      targetOf({ url: a.url, caPem: undefined, insecure: true }),
    ];
    const ad = { namingContexts: [NC], defaultNamingContext: NC, activeDirectory: true };
    const other = { namingContexts: ['dc=other,dc=test'], activeDirectory: false };
    for (let round = 0; round < 2; round++) {
      const seen = [];
      for (const target of targets) seen.push(await rootDseThrough(target));
      expect(seen).toEqual([ad, other, ad, ad]);
    }
    expect(rootDseReads(a.server)).toBe(3);
    expect(rootDseReads(b.server)).toBe(1);
    expect(a.server.seen.connections).toBe(6);
  });

  it('keeps no root DSE the server would not show', async () => {
    const fake = await startFake();
    fake.server.rootDseError = 52; // unavailable
    const empty = { namingContexts: [], activeDirectory: false };
    expect(await rootDseThrough(targetOf({ url: fake.url }))).toEqual(empty);
    expect(await rootDseThrough(targetOf({ url: fake.url }))).toEqual(empty);
    expect(rootDseReads(fake.server)).toBe(2);
    fake.server.rootDseError = undefined;
    expect(await rootDseThrough(targetOf({ url: fake.url }))).toMatchObject({ activeDirectory: true });
    expect(await rootDseThrough(targetOf({ url: fake.url }))).toMatchObject({ activeDirectory: true });
    expect(rootDseReads(fake.server)).toBe(3);
  });

  it.each([
    ['StartTLS', false],
    ['ldaps', true],
  ])(
    'over %s, a cached root DSE spares no TLS check: a certificate no longer trusted is refused before any bind',
    async (_, implicitTls) => {
      const fake = await startFake(implicitTls);
      const connection = await connectionOf({ ...upnInChain, url: fake.url });
      expect(await login(connection, 'adam@corp.test', 'adam-pw')).toMatchObject({ ok: true });
      // The same address now shows a certificate the connection's CA did not sign.
      fake.server.tls = untrustedTls;
      await expect(login(connection, 'adam@corp.test', 'adam-pw')).rejects.toMatchObject({
        code: 'directory_unavailable',
        reason: 'tls_failed',
      });
      expect(rootDseReads(fake.server)).toBe(1);
      expect(fake.server.seen.connections).toBe(2);
      expect(fake.server.seen.binds).toHaveLength(1);
    },
  );
});

describe('opening the directory while a gate (the login throttle) is checked', () => {
  it('binds nothing before the gate has passed, and nothing at all when it fails', async () => {
    const fake = await startFake(true);
    const connection = await connectionOf({ ...upnInChain, url: fake.url });
    const gate = deferred();
    let settled = false;
    const passing = authenticate(rt, connection, {
      email: 'adam@corp.test',
      password: 'adam-pw',
      gate: gate.promise,
    }).finally(() => {
      settled = true;
    });
    await expect.poll(() => rootDseReads(fake.server)).toBe(1);
    // Time for a bind to go out, were one going to.
    await new Promise((done) => setTimeout(done, 100));
    expect(fake.server.seen.binds).toEqual([]);
    expect(settled).toBe(false);
    gate.resolve(0);
    expect(await passing).toMatchObject({ ok: true, identity: { subject: ADAM_ID } });
    expect(fake.server.seen.binds).toHaveLength(1);

    // Refused once the connection is up (the root DSE is cached now: the next message would be the bind).
    fake.server.reset();
    const refused = deferred();
    const refusal = new Error('too many attempts');
    const failing = authenticate(rt, connection, {
      email: 'adam@corp.test',
      password: 'adam-pw',
      gate: refused.promise,
    });
    await expect.poll(() => fake.server.seen.connections).toBe(1);
    refused.reject(refusal);
    await expect(failing).rejects.toBe(refusal);
    await expect.poll(() => fake.server.seen.closed).toBe(1);
    expect(fake.server.seen.binds).toEqual([]);
  });

  it("gives up a connection still being made when the gate fails, and throws the gate's error", async () => {
    // Accepts and never answers; with no connect timeout and a long deadline, only the gate ends the wait.
    const accepted = new Set<Socket>();
    let closed = 0;
    const silent = createServer((socket) => {
      accepted.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        closed += 1;
      });
      socket.resume();
    });
    fakes.push({
      close: async () => {
        for (const socket of accepted) socket.destroy();
        await new Promise<void>((done) => silent.close(() => done()));
      },
    });
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const gate = deferred();
    const refusal = new Error('too many attempts');
    const opening = Directory.open(targetOf({ url: `ldaps://127.0.0.1:${port}`, connectTimeoutMs: 0 }), {
      allowPrivate: true,
      deadlineMs: 600_000,
      gate: gate.promise,
    });
    await expect.poll(() => accepted.size).toBe(1);
    gate.reject(refusal);
    await expect(opening).rejects.toBe(refusal);
    await expect.poll(() => closed).toBe(1);
  });

  it("answers the directory's error when only the directory fails, and the gate's when both do, in either order", async () => {
    const down = targetOf({ url: `ldaps://127.0.0.1:${await freePort()}` });
    const options = { allowPrivate: true };
    await expect(Directory.open(down, { ...options, gate: Promise.resolve(3) })).rejects.toMatchObject({
      reason: 'connect_failed',
    });
    const refusal = new Error('too many attempts');
    // The gate fails first, while the connection is being refused.
    await expect(Directory.open(down, { ...options, gate: Promise.reject(refusal) })).rejects.toBe(refusal);
    // The connection is refused first, then the gate fails.
    const late = deferred();
    const opening = Directory.open(down, { ...options, gate: late.promise });
    await Directory.open(down, options).catch(() => undefined);
    late.reject(refusal);
    await expect(opening).rejects.toBe(refusal);
  });
});

describe('a plain-LDAP connection saved before it was refused', () => {
  it('is never opened where private and plain transports are not allowed', async () => {
    let connected = false;
    const server = createServer((socket) => {
      connected = true;
      socket.destroy();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const target = {
        url: `ldap://127.0.0.1:${port}`,
        insecure: true,
        connectTimeoutMs: 500,
        timeoutMs: 500,
      };
      await expect(Directory.open(target, { allowPrivate: false })).rejects.toMatchObject({
        code: 'insecure_transport_not_allowed',
      });
      expect(connected).toBe(false);
    } finally {
      server.close();
    }
  });
});
