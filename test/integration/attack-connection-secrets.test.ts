import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  connect as tcpConnect,
} from 'node:net';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.ts';
import { BASE_DN, type Slapd, SVC, searchLdap, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The attack: a tenant admin cannot read a connection's write-only secret by pointing the
 * connection at a listener of theirs and pressing "test" (or waiting for a login). Changing where
 * a secret goes discards it unless the same request gives it again; a connection without its
 * secret refuses with secret_missing before it sends anything.
 */

const SECRET = 'attack-test-client-secret-9f3a7c21';

interface Finding {
  code: string;
  message: string;
}
interface View {
  id: string;
  version: number;
  secretsSet: string[];
  compatibility: { compatible: boolean; problems: Finding[]; warnings: Finding[] };
  clientJwks?: { keys: { kid: string }[] };
}
interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** A TCP listener that records every byte it is sent and relays it to a real directory. */
interface Listener {
  url: string;
  connections: number;
  received(): Buffer;
  close(): Promise<void>;
}

async function recordingLdapListener(upstreamUrl: string): Promise<Listener> {
  const upstream = new URL(upstreamUrl);
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const listener = {
    url: '',
    connections: 0,
    received: () => Buffer.concat(chunks),
    close: async () => undefined,
  } as Listener;
  const server = createTcpServer((socket) => {
    listener.connections += 1;
    const relay = tcpConnect(Number(upstream.port), upstream.hostname);
    for (const s of [socket, relay]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.pipe(relay).pipe(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  listener.url = `ldap://127.0.0.1:${(server.address() as AddressInfo).port}`;
  listener.close = () =>
    new Promise<void>((done) => {
      for (const s of sockets) s.destroy();
      server.close(() => done());
    });
  return listener;
}

/** An http server posing as an OpenID Provider: discovery, an empty JWK set, a token endpoint. */
interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface FakeProvider {
  origin: string;
  requests: Recorded[];
  close(): Promise<void>;
}

async function recordingProvider(): Promise<FakeProvider> {
  const fake: FakeProvider = { origin: '', requests: [], close: async () => undefined };
  const server = createHttpServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const path = req.url ?? '/';
    fake.requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (path === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: fake.origin,
        authorization_endpoint: `${fake.origin}/auth`,
        token_endpoint: `${fake.origin}/token`,
        jwks_uri: `${fake.origin}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'email'],
      });
    }
    if (path === '/jwks') return json(200, { keys: [] });
    // What a real provider says to a client it accepts with an unknown code (RFC 6749 5.2).
    return json(400, { error: 'invalid_grant' });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  fake.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    });
  return fake;
}

/** Whether the secret reached the fake provider in any form: raw, form-encoded, or in HTTP Basic. */
function leaked(requests: Recorded[], secret: string): boolean {
  return requests.some((r) => {
    const seen = [r.body, decodeURIComponent(r.body.replaceAll('+', ' ')), JSON.stringify(r.headers)];
    const auth = r.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      seen.push(decodeURIComponent(Buffer.from(auth.slice(6), 'base64').toString('utf8')));
    }
    return seen.some((text) => text.includes(secret));
  });
}

/** The `kid` of every private_key_jwt client assertion the fake provider received. */
function assertionKids(requests: Recorded[]): string[] {
  return requests.flatMap((r) => {
    const assertion = new URLSearchParams(r.body).get('client_assertion');
    return assertion ? [String(decodeProtectedHeader(assertion).kid)] : [];
  });
}

describe('moving a connection to a host of the tenant admin', () => {
  let stack: TestStack;
  let slapd: Slapd;
  let op: TestProvider;
  let fake: FakeProvider;
  const TENANT = 'attack-co';
  const base = `/admin/tenants/${TENANT}/connections`;

  beforeAll(async () => {
    [stack, slapd, op, fake] = await Promise.all([
      startTestStack(),
      startSlapd(),
      startOidcProvider({ accounts: { alice: { email: 'alice@attack.test', email_verified: true } } }),
      recordingProvider(),
    ]);
    const tenant = await stack.call('POST', '/admin/tenants', {
      body: { id: TENANT, name: 'Attack Co', settings: { ssoEnabled: true } },
    });
    expect(tenant.status, tenant.text).toBe(201);
  });
  afterAll(async () => {
    await Promise.all([stack?.close(), slapd?.stop(), op?.close(), fake?.close()]);
  });

  const refsOf = (id: string) => stack.secrets.refs().filter((r) => r.includes(`/connections/${id}/`));
  const codes = (findings: Finding[]) => findings.map((f) => f.code);

  const ldapConnection = async () => {
    const res = await stack.call<View>('POST', base, {
      body: {
        type: 'ldap',
        name: 'Directory',
        ldap: searchLdap(slapd),
      },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.secretsSet).toEqual(['dnResolution.serviceAccount.password']);
    return res.body;
  };

  /** A connection to the real provider, where its client is registered with SECRET. */
  const oidcConnection = async (
    method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' = 'client_secret_basic',
  ) => {
    const clientId = `attack-${randomUUID()}`;
    const res = await stack.call<View>('POST', base, {
      body: {
        type: 'oidc',
        name: 'OP',
        oidc: {
          issuer: op.issuer,
          clientId,
          tokenEndpointAuthMethod: method,
          ...(method === 'private_key_jwt' ? {} : { clientSecret: SECRET }),
        },
      },
    });
    expect(res.status, res.text).toBe(201);
    if (method !== 'private_key_jwt') {
      op.register({
        client_id: clientId,
        client_secret: SECRET,
        redirect_uris: [`${stack.url}/oidc/${res.body.id}/callback`],
        token_endpoint_auth_method: method,
      });
    }
    return res.body;
  };

  const liveTest = (id: string) =>
    stack.call<{ compatibility: View['compatibility']; report: Record<string, unknown> } & ErrorBody>(
      'POST',
      `${base}/${id}/test`,
    );

  describe('LDAP: the service account password', () => {
    it('is discarded when the url moves, and neither test nor login sends it to the new host', async () => {
      const listener = await recordingLdapListener(slapd.ldapUrl);
      try {
        const created = await ldapConnection();
        const [oldRef] = refsOf(created.id);
        const moved = await stack.call<View>('PATCH', `${base}/${created.id}`, {
          body: { ldap: { url: listener.url, insecure: true } },
        });
        expect(moved.status, moved.text).toBe(200);
        const test = await liveTest(created.id);
        const groups = await stack.call<ErrorBody>('GET', `${base}/${created.id}/directory-groups?q=`);
        const login = await stack.call<ErrorBody>('POST', `/ldap/${created.id}/login`, {
          body: { email: 'alice@example.test', password: 'alice-Pa55!' },
          token: null,
        });

        // The attack: nothing, let alone the password, reached the admin's listener.
        expect(listener.received().includes(SVC.password)).toBe(false);
        expect(listener.connections).toBe(0);

        // Each refusal is clean and says why.
        expect(test.status, test.text).toBe(409);
        expect(test.body.error).toMatchObject({
          code: 'secret_missing',
          details: { secret: 'ldap.dnResolution.serviceAccount.password' },
        });
        expect(groups.status, groups.text).toBe(409);
        expect(groups.body.error.code).toBe('secret_missing');
        expect(login.status, login.text).toBe(409);
        expect(login.body.error.code).toBe('secret_missing');

        // The PATCH said so, and the secret is deleted from the secrets port, not only unreferenced.
        expect(moved.body.secretsSet).toEqual([]);
        expect(moved.body.compatibility.compatible).toBe(false);
        expect(moved.body.compatibility.problems).toContainEqual({
          code: 'secret_missing',
          message: expect.stringMatching(/dnResolution\.serviceAccount\.password.*ldap\.url/),
        });
        expect(refsOf(created.id)).toEqual([]);
        expect(stack.secrets.refs()).not.toContain(oldRef);
        expect(
          stack.events.recent.findLast(
            (e) => e.type === 'connection.updated' && e.detail.connectionId === created.id,
          )?.detail,
        ).toMatchObject({ secretsDiscarded: ['dnResolution.serviceAccount.password'] });
      } finally {
        await listener.close();
      }
    });

    it('is discarded when only the CA or the transport changes', async () => {
      for (const change of [{ caPem: null }, { url: slapd.ldapUrl }]) {
        const created = await ldapConnection();
        const res = await stack.call<View>('PATCH', `${base}/${created.id}`, { body: { ldap: change } });
        expect(res.status, res.text).toBe(200);
        expect(res.body.secretsSet).toEqual([]);
        expect(refsOf(created.id)).toEqual([]);
      }
    });

    it('stays discarded through later PATCHes until it is given again, and then works', async () => {
      const created = await ldapConnection();
      await stack.call('PATCH', `${base}/${created.id}`, { body: { ldap: { url: slapd.ldapUrl } } });
      const renamed = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: { name: 'Still moved' },
      });
      expect(renamed.status, renamed.text).toBe(200);
      expect(renamed.body.secretsSet).toEqual([]);
      expect(codes(renamed.body.compatibility.problems)).toContain('secret_missing');
      expect((await liveTest(created.id)).status).toBe(409);

      const given = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: { ldap: { dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC } } },
      });
      expect(given.status, given.text).toBe(200);
      expect(given.body.secretsSet).toEqual(['dnResolution.serviceAccount.password']);
      expect(codes(given.body.compatibility.problems)).not.toContain('secret_missing');
      const test = await liveTest(created.id);
      expect(test.status, test.text).toBe(200);
      expect(test.body.report).toMatchObject({ bind: 'service_account', transport: 'starttls' });
    });

    it('moves with the password when the same request supplies it again', async () => {
      const created = await ldapConnection();
      const [oldRef] = refsOf(created.id);
      const res = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: {
          ldap: {
            url: slapd.ldapUrl,
            dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
          },
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.secretsSet).toEqual(['dnResolution.serviceAccount.password']);
      expect(res.body.compatibility.problems).toEqual([]);
      const refs = refsOf(created.id);
      expect(refs).toHaveLength(1);
      expect(refs[0]).not.toBe(oldRef);
      expect(await stack.secrets.get(refs[0] as string)).toBe(SVC.password);
      const test = await liveTest(created.id);
      expect(test.status, test.text).toBe(200);
      expect(test.body.report).toMatchObject({ bind: 'service_account', transport: 'starttls' });
    });

    it('is kept by a PATCH that does not move the connection', async () => {
      const created = await ldapConnection();
      const [ref] = refsOf(created.id);
      const res = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: {
          name: 'Renamed directory',
          ldap: {
            timeoutMs: 4000,
            dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: { dn: SVC.dn } },
          },
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.secretsSet).toEqual(['dnResolution.serviceAccount.password']);
      expect(refsOf(created.id)).toEqual([ref]);
      const test = await liveTest(created.id);
      expect(test.status, test.text).toBe(200);
      expect(test.body.report).toMatchObject({ bind: 'service_account', transport: 'ldaps' });
    });

    it('still refuses a new service account without its password', async () => {
      const res = await stack.call<View>('POST', base, {
        body: {
          type: 'ldap',
          name: 'Format',
          ldap: {
            url: slapd.ldapsUrl,
            caPem: slapd.caPem,
            dnResolution: { method: 'format', formats: { 'example.test': `uid={},ou=people,${BASE_DN}` } },
          },
        },
      });
      expect(res.status, res.text).toBe(201);
      const added = await stack.call<ErrorBody>('PATCH', `${base}/${res.body.id}`, {
        body: {
          ldap: {
            url: slapd.ldapUrl,
            dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: { dn: SVC.dn } },
          },
        },
      });
      expect(added.status).toBe(400);
      expect(added.body.error.code).toBe('invalid_request');
    });
  });

  describe('OIDC: the client secret and the private_key_jwt key', () => {
    it('discards the client secret when the token endpoint moves; test and login send nothing', async () => {
      fake.requests.length = 0;
      const created = await oidcConnection();
      const moved = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: {
          oidc: {
            authorizationEndpoint: `${fake.origin}/auth`,
            tokenEndpoint: `${fake.origin}/token`,
            jwksUri: `${fake.origin}/jwks`,
          },
        },
      });
      expect(moved.status, moved.text).toBe(200);
      const test = await liveTest(created.id);
      const login = await stack.call<ErrorBody>('GET', `/oidc/${created.id}/login`, { token: null });

      expect(leaked(fake.requests, SECRET)).toBe(false);
      expect(fake.requests.filter((r) => r.path === '/token')).toEqual([]);

      expect(test.status, test.text).toBe(409);
      expect(test.body.error).toMatchObject({
        code: 'secret_missing',
        details: { secret: 'oidc.clientSecret' },
      });
      expect(login.status, login.text).toBe(409);
      expect(login.body.error.code).toBe('secret_missing');
      expect(moved.body.secretsSet).toEqual([]);
      expect(moved.body.compatibility.problems).toContainEqual({
        code: 'secret_missing',
        message: expect.stringMatching(/oidc\.clientSecret.*oidc\.tokenEndpoint/),
      });
      expect(refsOf(created.id)).toEqual([]);
    });

    it('discards the client secret when the issuer moves (discovery): client_secret_post', async () => {
      fake.requests.length = 0;
      const created = await oidcConnection('client_secret_post');
      const moved = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: { oidc: { issuer: fake.origin } },
      });
      expect(moved.status, moved.text).toBe(200);
      const test = await liveTest(created.id);
      expect(leaked(fake.requests, SECRET)).toBe(false);
      expect(fake.requests.filter((r) => r.path === '/token')).toEqual([]);
      expect(test.status, test.text).toBe(409);
      expect(test.body.error.code).toBe('secret_missing');
      expect(moved.body.secretsSet).toEqual([]);
      expect(refsOf(created.id)).toEqual([]);
    });

    it('replaces the private_key_jwt key when the token endpoint moves: no assertion of the old key goes there', async () => {
      fake.requests.length = 0;
      const created = await oidcConnection('private_key_jwt');
      const oldKid = created.clientJwks?.keys[0]?.kid;
      expect(oldKid).toBeDefined();
      const [oldRef] = refsOf(created.id);
      const moved = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: {
          oidc: {
            authorizationEndpoint: `${fake.origin}/auth`,
            tokenEndpoint: `${fake.origin}/token`,
            jwksUri: `${fake.origin}/jwks`,
          },
        },
      });
      expect(moved.status, moved.text).toBe(200);
      const test = await liveTest(created.id);
      expect(test.status, test.text).toBe(200);
      // An assertion went there, made with a fresh key that no provider trusts.
      const kids = assertionKids(fake.requests);
      expect(kids.length).toBeGreaterThan(0);
      expect(kids).not.toContain(oldKid);

      const newKid = moved.body.clientJwks?.keys[0]?.kid;
      expect(newKid).toBeDefined();
      expect(newKid).not.toBe(oldKid);
      expect(kids.every((kid) => kid === newKid)).toBe(true);
      expect(moved.body.secretsSet).toEqual(['privateKeyPem']);
      expect(refsOf(created.id)).toHaveLength(1);
      expect(refsOf(created.id)).not.toContain(oldRef);
    });

    it('moves with the client secret when the same request supplies it again', async () => {
      const created = await oidcConnection();
      const [oldRef] = refsOf(created.id);
      const res = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: {
          oidc: {
            authorizationEndpoint: `${op.issuer}/auth`,
            tokenEndpoint: `${op.issuer}/token`,
            jwksUri: `${op.issuer}/jwks`,
            clientSecret: SECRET,
          },
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.secretsSet).toEqual(['clientSecret']);
      expect(codes(res.body.compatibility.problems)).not.toContain('secret_missing');
      expect(refsOf(created.id)).toHaveLength(1);
      expect(refsOf(created.id)).not.toContain(oldRef);
      const test = await liveTest(created.id);
      expect(test.status, test.text).toBe(200);
      expect(test.body.report).toMatchObject({ clientAuthentication: 'accepted' });
    });

    it('keeps the client secret through a PATCH that does not move the connection', async () => {
      const created = await oidcConnection();
      const [ref] = refsOf(created.id);
      const res = await stack.call<View>('PATCH', `${base}/${created.id}`, {
        body: {
          name: 'Renamed OP',
          oidc: { scopes: ['profile'], userinfoEndpoint: `${fake.origin}/userinfo`, prompt: ['login'] },
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.secretsSet).toEqual(['clientSecret']);
      expect(refsOf(created.id)).toEqual([ref]);
      const test = await liveTest(created.id);
      expect(test.status, test.text).toBe(200);
      expect(test.body.report).toMatchObject({ clientAuthentication: 'accepted' });
    });
  });
});

describe('plain LDAP on a deployment that does not allow private URLs', () => {
  let stack: TestStack;
  const TENANT = 'plain-ldap-co';
  const base = `/admin/tenants/${TENANT}/connections`;
  const ldap = {
    url: 'ldaps://ldap.example.test',
    dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
  };

  beforeAll(async () => {
    stack = await startTestStack({ allowPrivateUrls: false });
    const tenant = await stack.call('POST', '/admin/tenants', { body: { id: TENANT, name: 'Plain LDAP' } });
    expect(tenant.status, tenant.text).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** Everything but the audit trail, which the event bus writes on its own time. */
  const state = async () => ({
    items: (await stack.items())
      .filter((i) => !String(i.sk).startsWith('AUDIT#'))
      .sort((a, b) => `${a.pk}|${a.sk}`.localeCompare(`${b.pk}|${b.sk}`)),
    secrets: stack.secrets.refs().sort(),
  });

  it('refuses insecure: true on create and on PATCH, writing nothing', async () => {
    const before = await state();
    const refused = await stack.call<ErrorBody>('POST', base, {
      body: {
        type: 'ldap',
        name: 'Plain',
        ldap: { ...ldap, url: 'ldap://ldap.example.test', insecure: true },
      },
    });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.error.code).toBe('insecure_transport_not_allowed');
    expect(await state()).toEqual(before);

    const created = await stack.call<View>('POST', base, { body: { type: 'ldap', name: 'TLS', ldap } });
    expect(created.status, created.text).toBe(201);
    const saved = await state();
    const patched = await stack.call<ErrorBody>('PATCH', `${base}/${created.body.id}`, {
      body: { ldap: { url: 'ldap://ldap.example.test', insecure: true } },
    });
    expect(patched.status, patched.text).toBe(400);
    expect(patched.body.error.code).toBe('insecure_transport_not_allowed');
    expect(await state()).toEqual(saved);
    const read = await stack.call<View>('GET', `${base}/${created.body.id}`);
    expect(read.body).toMatchObject({ version: 1, secretsSet: ['dnResolution.serviceAccount.password'] });
  });
});
