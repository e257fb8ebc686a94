import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '../../shared/logger.ts';
import { ROUTES, type Route } from '../../shared/routes.ts';
import {
  Browser,
  errorCode,
  reachCallback,
  type ScriptedProvider,
  startScriptedProvider,
} from '../helpers/oidc-provider.ts';
import { type SamlFixture, samlFixture, signed } from '../helpers/saml.ts';
import { BASE_DN, type Slapd, searchLdap, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * No input answers 5xx. Every route of the route table is fuzzed with fast-check against a tenant
 * holding one connection of each type (SAML, OIDC against a scripted provider, LDAP against a real
 * slapd, so that nothing upstream is legitimately down), a member, a group, an external role and
 * tokens, so path parameters name real items as well as missing and hostile ones. The two
 * reproductions of the security review (12,000 nested elements at an ACS, 40,000 nested JSON
 * objects in tenant settings) and deep documents from identity providers are checked explicitly,
 * with the log level: a refusal of hostile input must not page anyone.
 */

const TENANT = 'fuzz-co';
const OWNER = { email: 'owner@fuzz.example.test', password: 'Owner-passw0rd-long!' };
const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';

let stack: TestStack;
let slapd: Slapd;
let op: ScriptedProvider;
let saml: SamlFixture;
let documents: DocumentServer;
/** Real values of each path parameter, filled by the seeding below. */
const real: Record<string, string[]> = {};
const tokens = { operator: '', session: '', api: '', setup: '' };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

beforeAll(async () => {
  [stack, slapd, op, documents] = await Promise.all([
    startTestStack(),
    startSlapd(),
    startScriptedProvider(),
    startDocumentServer(),
  ]);
  tokens.operator = stack.operatorToken;
  saml = await samlFixture(stack, TENANT);
  const created = async (path: string, body: unknown, token = tokens.operator) => {
    const res = await stack.call<{ id: string; token?: string; url?: string }>('POST', path, { body, token });
    if (res.status !== 201 && res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const admin = `/admin/tenants/${TENANT}`;
  const oidc = await created(`${admin}/connections`, {
    type: 'oidc',
    name: 'Scripted OP',
    oidc: { issuer: op.issuer, clientId: 'fuzz-client', clientSecret: 'fuzz-client-secret-0123456789' },
    provisioning: { mode: 'jit' },
  });
  const ldap = await created(`${admin}/connections`, {
    type: 'ldap',
    name: 'Directory',
    ldap: searchLdap(slapd),
    provisioning: { mode: 'jit' },
  });
  const user = await created(`${admin}/users`, { ...OWNER, role: 'owner' });
  const group = await created(`${admin}/groups`, { name: 'Engineering' });
  const xrole = await created(`${admin}/external-roles`, {
    connectionId: ldap.id,
    externalId: `cn=engineering,ou=groups,${BASE_DN}`,
    name: 'engineering',
  });
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    token: null,
    body: { tenantId: TENANT, ...OWNER },
  });
  if (login.status !== 200) throw new Error(`password login: ${login.status} ${login.text}`);
  tokens.session = login.body.token;
  const api = await created('/tokens', { name: 'fuzz cli' }, tokens.session);
  tokens.api = api.token ?? '';
  real.tenantId = [TENANT];
  real.connectionId = [saml.connectionId, oidc.id, ldap.id];
  real.userId = [user.id];
  real.groupId = [group.id];
  real.xroleId = [xrole.id];
  real.tokenId = [api.id];
  real.domain = ['fuzz.example.test'];
  // Setup links: one used (its browser session in the cookies), one whose token the console paths try.
  const used = await created(`${admin}/setup-links`, { note: 'used' });
  // Its page (GET spends nothing), then its button: a POST with the page's CSRF field and cookie.
  const shown = await fetch(used.url ?? '', { redirect: 'manual' });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await shown.text())?.[1] ?? '';
  const opened = await fetch(used.url ?? '', {
    method: 'POST',
    redirect: 'manual',
    headers: {
      cookie: `sso_console_csrf=${csrf}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ csrf }).toString(),
  });
  tokens.setup = /sso_setup=([^;]+)/.exec(opened.headers.get('set-cookie') ?? '')?.[1] ?? '';
  if (!tokens.setup) throw new Error(`setup link: ${opened.status}`);
  const unused = await created(`${admin}/setup-links`, {});
  real.linkId = [used.id, unused.id];
  real.section = ['connections', 'settings', 'setup'];
  real.itemId = [(unused.url ?? '').split('/').at(-1) ?? '', 'new'];
}, 120_000);

afterAll(async () => {
  await Promise.all([stack?.close(), slapd?.stop(), op?.close(), documents?.close()]);
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** A request sent as bytes with node:http: no path normalization, no header or body rewriting. */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const { hostname, port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        method,
        path,
        headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const codeOf = (answer: Answer): string | undefined => {
  try {
    const error = (JSON.parse(answer.text) as { error?: { code?: string } | string }).error;
    // The OpenID Provider's endpoints answer as RFC 6749 §5.2 says: {"error": "invalid_grant", …}.
    return typeof error === 'string' ? error : error?.code;
  } catch {
    return /id="error-code">([^<]+)</.exec(answer.text)?.[1];
  }
};

const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (text: string) => Buffer.from(text).toString('base64url');
const form = (fields: Record<string, string>) => Buffer.from(new URLSearchParams(fields).toString());
/** encodeURIComponent, lone surrogates first replaced (they would make it throw). */
const enc = (text: string) => encodeURIComponent(Buffer.from(text, 'utf8').toString('utf8'));

/** `levels` nested JSON objects around a number, e.g. {"a":{"a":1}} for 2. */
const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const deepArray = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
/** A samlp:Response holding `levels` nested elements (the response element itself not counted). */
const deepResponse = (levels: number) =>
  `<samlp:Response xmlns:samlp="${SAMLP}" ID="_x" Version="2.0">${'<a>'.repeat(levels)}${'</a>'.repeat(levels)}</samlp:Response>`;

/** Records what the handlers log at ERROR (the logger, and the local server's last resort). */
function watchErrorLogs() {
  const error = vi.spyOn(logger, 'error');
  const consoleError = vi.spyOn(console, 'error');
  const info = vi.spyOn(logger, 'info');
  return {
    errors: () => [...error.mock.calls, ...consoleError.mock.calls],
    refusals: () => info.mock.calls.filter(([message]) => message === 'request refused'),
  };
}

describe("the security review's reproductions", () => {
  it('12,000 nested elements posted to an ACS answer 400 xml_too_deep, logged below ERROR', async () => {
    const logs = watchErrorLogs();
    const answer = await send(
      'POST',
      `/saml/${saml.connectionId}/acs`,
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      form({ SAMLResponse: b64(deepResponse(12_000)) }),
    );
    expect(answer.status, answer.text).toBe(400);
    expect(codeOf(answer)).toBe('xml_too_deep');
    expect(logs.errors()).toEqual([]);
    expect(logs.refusals()).toContainEqual([
      'request refused',
      expect.objectContaining({ code: 'xml_too_deep', status: 400 }),
    ]);
  });

  it('40,000 nested JSON objects in tenant settings answer 400 json_too_deep, logged below ERROR', async () => {
    const logs = watchErrorLogs();
    const answer = await send(
      'PATCH',
      `/admin/tenants/${TENANT}`,
      {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${tokens.operator}`,
      },
      Buffer.from(`{"settings":${deepObject(40_000)}}`),
    );
    expect(answer.status, answer.text).toBe(400);
    expect(codeOf(answer)).toBe('json_too_deep');
    expect(logs.errors()).toEqual([]);
    expect(logs.refusals()).toContainEqual([
      'request refused',
      expect.objectContaining({ code: 'json_too_deep', status: 400 }),
    ]);
  });

  it.each([
    [
      'nested elements, the closing tags left out',
      `<samlp:Response xmlns:samlp="${SAMLP}">${'<a>'.repeat(50_000)}`,
    ],
    ['elements side by side outside the root', '<a/>'.repeat(35_000)],
    ['comments outside the root', `<r/>${'<!---->'.repeat(20_000)}`],
    ['text after the root', `<r/>${'x<a/>'.repeat(28_000)}`],
  ])('%s are refused at once, not after minutes of parsing', async (_, xml) => {
    const started = Date.now();
    const answer = await send(
      'POST',
      `/saml/${saml.connectionId}/acs`,
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      form({ SAMLResponse: b64(xml) }),
    );
    expect(answer.status, answer.text).toBe(400);
    expect(codeOf(answer)).toMatch(/^(xml_too_deep|malformed_response)$/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a deep document is refused by an unknown connection too, as not found', async () => {
    const answer = await send(
      'POST',
      '/saml/no-such-connection/acs',
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      form({ SAMLResponse: b64(deepResponse(12_000)) }),
    );
    expect(answer.status).toBe(404);
  });

  it('64 levels are within the bound, 65 are not', async () => {
    const patch = (levels: number) =>
      send(
        'PATCH',
        `/admin/tenants/${TENANT}`,
        {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${tokens.operator}`,
        },
        // The body is one level, settings another: the unknown setting nests the rest.
        Buffer.from(`{"settings":{"x":${deepObject(levels - 2)}}}`),
      );
    const within = await patch(64);
    expect(within.status).toBe(400);
    expect(codeOf(within)).toBe('invalid_request');
    expect(codeOf(await patch(65))).toBe('json_too_deep');
  });
});

describe('deep documents from identity providers', () => {
  interface Created {
    id: string;
    compatibility: { compatible: boolean; problems: { code: string }[]; warnings: { code: string }[] };
  }
  const createConnection = (body: Record<string, unknown>) =>
    stack.call<Created>('POST', `/admin/tenants/${TENANT}/connections`, { body });
  const metadataXml = (levels: number) =>
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://deep.example.test">${'<a>'.repeat(levels)}${'</a>'.repeat(levels)}</md:EntityDescriptor>`;

  // A connection is saved whatever its IdP sends; what cannot be used is reported in
  // `compatibility`, as for any other unusable metadata.
  it('IdP metadata pasted by an admin, 12,000 levels deep, is reported as unparseable', async () => {
    const logs = watchErrorLogs();
    const res = await createConnection({
      type: 'saml',
      name: 'Deep',
      saml: { idpMetadataXml: metadataXml(12_000) },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.compatibility.problems.map((p) => p.code)).toEqual(['unparseable_metadata']);
    expect(logs.errors()).toEqual([]);
  });

  it('IdP metadata fetched by URL, 12,000 levels deep, is reported as unparseable', async () => {
    documents.serve('/metadata.xml', 'application/samlmetadata+xml', metadataXml(12_000));
    const logs = watchErrorLogs();
    const res = await createConnection({
      type: 'saml',
      name: 'Deep URL',
      saml: { idpMetadataUrl: `${documents.url}/metadata.xml` },
    });
    expect(res.status, res.text).toBe(201);
    expect(documents.hits('/metadata.xml')).toBe(1);
    expect(res.body.compatibility.problems.map((p) => p.code)).toEqual(['unparseable_metadata']);
    expect(logs.errors()).toEqual([]);
  });

  it('an OIDC discovery document with a 40,000-deep member is reported as failed discovery', async () => {
    const issuer = `${documents.url}/deep-op`;
    documents.serve(
      '/deep-op/.well-known/openid-configuration',
      'application/json',
      `{"issuer":"${issuer}","authorization_endpoint":"${issuer}/authorize","token_endpoint":"${issuer}/token","jwks_uri":"${issuer}/jwks","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"],"x":${deepArray(40_000)}}`,
    );
    const logs = watchErrorLogs();
    const res = await createConnection({
      type: 'oidc',
      name: 'Deep OP',
      oidc: { issuer, clientId: 'c', clientSecret: 'deep-secret-0123456789' },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.compatibility.warnings.map((w) => w.code)).toContain('discovery_failed');
    expect(logs.errors()).toEqual([]);
  });

  it('a signed ID token with a 40,000-deep claim, and such a UserInfo answer, still sign in', async () => {
    // The scripted provider's keys and UserInfo are swapped for ones served as raw text: a value this
    // deep cannot go through JSON.stringify.
    op.metadata = { jwks_uri: `${documents.url}/jwks`, userinfo_endpoint: `${documents.url}/userinfo` };
    documents.serve('/jwks', 'application/json', JSON.stringify({ keys: [documents.publicJwk] }));
    documents.serve(
      '/userinfo',
      'application/json',
      `{"sub":"scripted-user","email":"deep@example.test","email_verified":true,"x":${deepObject(40_000)}}`,
    );
    try {
      const res = await createConnection({
        type: 'oidc',
        name: 'Deep tokens',
        oidc: { issuer: op.issuer, clientId: 'deep-client', clientSecret: 'deep-secret-0123456789' },
        provisioning: { mode: 'jit' },
      });
      expect(res.status, res.text).toBe(201);
      const logs = watchErrorLogs();
      // First with the email in the ID token; then without it, so that UserInfo is read.
      for (const withEmail of [true, false]) {
        op.mint = async ({ claims }) => {
          const { email: _email, email_verified: _verified, ...rest } = claims;
          const payload = JSON.stringify(withEmail ? claims : rest);
          return documents.signJwt(`${payload.slice(0, -1)},"deep":${deepArray(40_000)}}`);
        };
        const browser = new Browser();
        const { callbackUrl } = await reachCallback(browser, stack.url, res.body.id);
        const page = await browser.get(callbackUrl, 'application/json');
        expect(page.status, `${errorCode(page)}: ${page.text.slice(0, 300)}`).toBe(200);
      }
      expect(documents.hits('/userinfo')).toBe(1);
      expect(logs.errors()).toEqual([]);
    } finally {
      op.reset();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The fuzz: every route, hostile requests.

const HOSTILE_IDS = [
  'a'.repeat(3000),
  '..',
  '.',
  '%2e%2e',
  '..%2f..%2fadmin',
  '%00',
  '%ff',
  '%E0%A4%A',
  '%C3%BC',
  '%F0%9F%98%80',
  'no-such-thing',
  '00000000-0000-0000-0000-000000000000',
  'FUZZ-CO',
  '%20',
  "'%22%3Cscript%3E",
  '__proto__',
  'constructor',
];

const pathValue = (name: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...(real[name] ?? ['x'])) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_IDS) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map(enc) },
    // A real id of another parameter: a connection id where a user id belongs, and so on.
    { weight: 1, arbitrary: fc.constantFrom(...Object.values(real).flat()) },
  );

const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(
    '',
    'a'.repeat(5000),
    '\u0000',
    '\ud800',
    '😀',
    '<script>alert(1)</script>',
    'owner',
    'admin',
    TENANT,
    OWNER.email,
    'OWNER@FUZZ.EXAMPLE.TEST',
    '*)(uid=*',
    '$' + '{jndi:ldap://x}',
    'https://evil.example/',
    'javascript:alert(1)',
  ),
);

/** Values for the keys of a JSON body: scalars, hostile strings, small JSON, prototype keys. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    null,
    [],
    {},
    -1,
    1e308,
    Number.MAX_SAFE_INTEGER,
    JSON.parse('{"__proto__":{"isAdmin":true}}'),
    JSON.parse('{"constructor":{"prototype":{"isAdmin":true}}}'),
  ),
);

const BODY_KEYS = [
  'id',
  'name',
  'settings',
  'type',
  'saml',
  'oidc',
  'ldap',
  'provisioning',
  'authorization',
  'enabled',
  'email',
  'password',
  'newPassword',
  'currentPassword',
  'tenantId',
  'role',
  'firstName',
  'lastName',
  'status',
  'accessList',
  'version',
  'connectionId',
  'externalId',
  'accessLevel',
  'description',
  'expiresInDays',
  'note',
  'domain',
  'token',
  'SAMLResponse',
  'RelayState',
  '__proto__',
  'constructor',
  'prototype',
];

interface Body {
  bytes?: Buffer;
  contentType?: string;
  label: string;
}

const json = (text: string, label: string): Body => ({
  bytes: Buffer.from(text),
  contentType: 'application/json',
  label,
});

/** Form posts for an ACS: deep, wide, unclosed and otherwise hostile XML, base64 or not. */
const samlForm: fc.Arbitrary<Body> = fc
  .oneof(
    fc.integer({ min: 65, max: 25_000 }).map(deepResponse),
    fc.integer({ min: 65, max: 25_000 }).map((n) => '<a>'.repeat(n)),
    fc.constantFrom(
      '<a/>'.repeat(40_000),
      `<r>${'<!--'.repeat(1000)}</r>`,
      `<r><![CDATA[${'<a>'.repeat(5000)}]]></r>`,
      `<r>${'<?pi x?>'.repeat(100)}</r>`,
      '<!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>',
      `<r a="${'>'.repeat(1000)}"/>`,
    ),
    fc.string({ maxLength: 200 }),
  )
  .chain((xml) =>
    fc.constantFrom<Record<string, string>>(
      { SAMLResponse: b64(xml) },
      { SAMLResponse: b64(xml), RelayState: 'https://evil.example/' },
      { SAMLResponse: xml },
    ),
  )
  .map((fields) => ({
    bytes: form(fields),
    contentType: 'application/x-www-form-urlencoded',
    label: 'SAMLResponse',
  }));

/**
 * Bodies close to valid ones (each key optional, plausible values with hostile ones mixed in), so
 * that requests get past the first validation into the services, the store and the connectors.
 */
const plausibleBody = () =>
  fc.record(
    {
      id: fc.constantFrom('fuzz-new', TENANT, 'x'),
      name: fc.oneof(fc.constant('Fuzzed'), hostileString),
      email: fc.oneof(
        fc.constantFrom(OWNER.email, 'new@fuzz.example.test', 'alice@example.test'),
        hostileString,
      ),
      password: fc.oneof(fc.constantFrom(OWNER.password, 'Another-passw0rd-long!'), hostileString),
      tenantId: fc.oneof(fc.constant(TENANT), hostileString),
      role: fc.constantFrom('owner', 'admin', 'auditor', 'member', 'root'),
      type: fc.constantFrom('saml', 'oidc', 'ldap', 'kerberos'),
      connectionId: fc.constantFrom(...(real.connectionId ?? ['x'])),
      externalId: fc.oneof(fc.constant(`cn=staff,ou=groups,${BASE_DN}`), hostileString),
      accessLevel: fc.constantFrom('administrator', 'member', 'auditor', 'owner'),
      settings: fc.record(
        {
          ssoEnabled: fc.oneof(fc.boolean(), hostileValue),
          forbidPasswordLogin: fc.boolean(),
          passwordLoginRoles: fc.oneof(fc.constant(['owner']), fc.constant([]), hostileValue),
          appUrl: fc.oneof(fc.constant('https://app.fuzz.test/'), hostileString),
          sessionTtlSeconds: fc.oneof(fc.integer(), hostileValue),
        },
        { requiredKeys: [] },
      ),
      enabled: fc.boolean(),
      saml: fc.record(
        { idpMetadataXml: fc.constantFrom('<x/>', deepResponse(100)), allowSha1: fc.boolean() },
        { requiredKeys: [] },
      ),
      ldap: fc.record(
        { url: fc.constantFrom('ldaps://127.0.0.1:1', 'ldap://x'), caPem: hostileString },
        { requiredKeys: [] },
      ),
      provisioning: fc.record(
        { mode: fc.constantFrom('none', 'jit', 'claims', 'self', 'x'), attributeMap: hostileValue },
        { requiredKeys: [] },
      ),
      expiresInDays: fc.oneof(fc.integer({ min: -10, max: 100_000 }), hostileValue),
      firstName: hostileString,
      accessList: fc.oneof(fc.constant('all'), fc.constant(real.groupId ?? []), hostileValue),
      version: fc.oneof(fc.integer(), hostileValue),
      domain: fc.oneof(fc.constantFrom('fuzz.example.test', 'EXAMPLE.TEST', 'localhost'), hostileString),
    },
    { requiredKeys: [] },
  );

const bodyArb = (saml: boolean): fc.Arbitrary<Body> =>
  fc.oneof(
    fc.constant<Body>({ label: 'none' }),
    { weight: 4, arbitrary: plausibleBody().map((o) => json(JSON.stringify(o), 'plausible object')) },
    fc.jsonValue().map((v) => json(JSON.stringify(v) ?? 'null', 'random JSON')),
    fc
      .dictionary(fc.constantFrom(...BODY_KEYS), hostileValue, { maxKeys: 6 })
      .map((o) => json(JSON.stringify(o), 'object of known keys')),
    fc
      .tuple(
        fc.constantFrom('settings', 'saml', 'oidc', 'ldap', 'email', 'provisioning', 'name'),
        fc.integer({ min: 65, max: 40_000 }),
        fc.boolean(),
      )
      .map(([key, levels, arrays]) =>
        json(
          `{"${key}":${arrays ? deepArray(levels) : deepObject(levels)}}`,
          `deep JSON (${levels}) in ${key}`,
        ),
      ),
    fc
      .constantFrom(
        '{"__proto__":{"isAdmin":true}}',
        '{"constructor":{"prototype":{"isAdmin":true}}}',
        '{"settings":{"__proto__":{"ssoEnabled":false}}}',
        '{"type":"saml","name":"x","saml":{"__proto__":{"idpMetadataXml":"<x/>"}}}',
        '{"provisioning":{"constructor":{"prototype":{}}}}',
        '[]',
        '[{}]',
        '[{"email":"a@b.test"}]',
        'null',
        '"x"',
        'true',
        '1e309',
        '{',
        '{"a":1,"a":2}',
        '\ufeff{}',
      )
      .map((text) => json(text, `fixed JSON ${text.slice(0, 30)}`)),
    fc
      .constantFrom(200_000, 300_000)
      .map((n) =>
        json(`{"name":"${'x'.repeat(n)}","email":"${'e'.repeat(n)}@x.test"}`, `huge strings (${n})`),
      ),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => ({
      bytes: Buffer.concat([Buffer.from('{"name":"'), Buffer.from(bytes), Buffer.from('"}')]),
      contentType: 'application/json',
      label: 'invalid UTF-8 in JSON',
    })),
    fc.array(fc.tuple(fc.constantFrom(...BODY_KEYS), hostileString), { maxLength: 6 }).map((pairs) => ({
      bytes: Buffer.from(new URLSearchParams(pairs).toString()),
      contentType: 'application/x-www-form-urlencoded',
      label: 'form',
    })),
    { weight: saml ? 8 : 1, arbitrary: samlForm },
    fc.uint8Array({ maxLength: 500 }).map((bytes) => ({ bytes: Buffer.from(bytes), label: 'random bytes' })),
  );

const CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'application/merge-patch+json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
  '*/*',
  '',
];

const fakeJwt = (header: string, payload: string) => `${b64url(header)}.${b64url(payload)}.${b64url('sig')}`;

const authArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  {
    weight: 4,
    arbitrary: fc
      .constantFrom('operator', 'operator', 'session', 'api')
      .map((kind) => `Bearer ${tokens[kind as keyof typeof tokens]}`),
  },
  fc.constantFrom('session', 'api').map((kind) => `Bearer ${tokens[kind as 'session' | 'api']}x`),
  fc.constantFrom(
    'Bearer ',
    'Bearer x',
    'bearer x',
    'Basic Zm9vOmJhcg==',
    `Bearer ${'a'.repeat(6000)}`,
    `Bearer ${fakeJwt('{"alg":"none"}', '{"sub":"x","tid":"fuzz-co","role":"owner"}')}`,
    `Bearer ${fakeJwt('{"alg":"ES256","kid":"../../x"}', '{"sub":"x"}')}`,
    `Bearer ${fakeJwt(deepArray(1000), '{}')}`,
    `Bearer ${fakeJwt('{"alg":"HS256"}', deepObject(300))}`,
    'Bearer a.b.c.d.e',
    'Bearer ....',
  ),
  hostileString.map((s) => `Bearer ${enc(s)}`),
);

const cookieArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('session').map(() => `sso_session=${tokens.session}`),
  fc.constantFrom('setup').map(() => `sso_setup=${tokens.setup}`),
  fc.constantFrom(
    'sso_session=garbage',
    'sso_setup=garbage',
    `sso_setup=${'a'.repeat(3000)}`,
    'sso_session=%E0%A4%A',
    'sso_session="a',
    'sso_session=a; sso_session=b',
    '=; ;;',
    `${'a'.repeat(4000)}=1`,
    `sso_session=${fakeJwt('{"alg":"none"}', '{"sub":"x"}')}`,
    `sso_session=${fakeJwt(deepObject(300), '{}')}`,
    '__proto__=x; constructor=y',
  ),
);

const queryArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            'q',
            'limit',
            'cursor',
            'email',
            'state',
            'code',
            'iss',
            'login_hint',
            'target_link_uri',
            'error',
            'error_description',
            'RelayState',
            'redirect',
            'token',
            'organization',
            'connection',
            '__proto__',
            'constructor',
          ),
          fc.string({ maxLength: 10 }),
        ),
        fc.oneof(
          hostileString,
          fc.constantFrom(
            '-1',
            '0',
            '1e309',
            'NaN',
            '99999999999999999999',
            b64url(deepObject(300)),
            b64url('{"pk":"TENANT#fuzz-co","sk":{"x":1}}'),
            b64url('{"pk":"TENANT#fuzz-co","sk":"MEMBER#","__proto__":{}}'),
          ),
        ),
      ),
      { maxLength: 5 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`),
  fc.constantFrom('?%', '?%%=%', '?=&=&', '??', '?a=1&a=2&a=3', `?q=${'%'.repeat(50)}`, '?limit=5&limit=x'),
);

/** A failure report names the body instead of printing up to 256 KB of it. */
const summarized = (body: Body): Body =>
  Object.assign(body, { [fc.toStringMethod]: () => `<${body.label}: ${body.bytes?.length ?? 0} bytes>` });

const fill = (path: string, values: Record<string, string>) =>
  path.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => values[name] ?? 'x');

const paramsOf = (route: Route) => [...route.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1] as string);

const requestArb = (route: Route) =>
  fc.record({
    params: fc.record(Object.fromEntries(paramsOf(route).map((name) => [name, pathValue(name)]))),
    query: queryArb,
    body: bodyArb(route.path.endsWith('/acs')).map(summarized),
    // Mostly the body's own type; now and then a wrong one.
    contentType: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    ),
    authorization: authArb,
    cookie: cookieArb,
    accept: fc.constantFrom('application/json', 'text/html', '*/*', undefined, 'text/html;q=abc, */*'),
    ifMatch: fc.constantFrom(undefined, '"1"', '*', 'W/"999999999999999999"', 'garbage'),
  });

/** Deletions and logout last, so that the other routes meet the seeded items and a live session. */
const destroys = (route: Route) => route.method === 'DELETE' || route.path === '/logout';
const ORDERED = [...ROUTES].sort((a, b) => Number(destroys(a)) - Number(destroys(b)));

describe('every route of the route table, hostile input (fast-check)', () => {
  it('starts from a working fixture: a valid SAML response signs in at the seeded connection', async () => {
    const answer = await send(
      'POST',
      `/saml/${saml.connectionId}/acs`,
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      form({ SAMLResponse: b64(signed(saml, { nameId: 'before-fuzz@saml.test' })) }),
    );
    expect(answer.status, answer.text).toBe(200);
  });

  it.each(ORDERED.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s never answers 5xx',
    async (_, route) => {
      const logs = watchErrorLogs();
      await fc.assert(
        fc.asyncProperty(requestArb(route), async (r) => {
          const headers: Record<string, string> = {};
          if (r.accept !== undefined) headers.accept = r.accept;
          if (r.authorization !== undefined) headers.authorization = r.authorization;
          if (r.cookie !== undefined) headers.cookie = r.cookie;
          if (r.ifMatch !== undefined) headers['if-match'] = r.ifMatch;
          const contentType = r.contentType ?? r.body.contentType;
          if (contentType !== undefined && r.body.bytes) headers['content-type'] = contentType;
          const path = fill(route.path, r.params) + r.query;
          const answer = await send(route.method, path, headers, r.body.bytes);
          const what = `${route.method} ${path.slice(0, 120)} [${r.body.label}, ${contentType}]`;
          expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBeLessThan(500);
          // 431: Node's limit on the request line and headers refused it before any handler ran.
          if (answer.status >= 400 && answer.status !== 431) {
            expect(codeOf(answer) ?? `no code (${answer.status})`, what).toMatch(/^[a-z0-9_]+$/);
          }
        }),
        { numRuns: 40 },
      );
      expect(logs.errors()).toEqual([]);
    },
  );

  it.each([['//['], ['http://[x/'], ['//a:b@'], ['//x:99999/health'], ['/%'], [`/${'a'.repeat(10_000)}`]])(
    'the request target %s never answers 5xx',
    async (target) => {
      const status = await new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(stack.url);
        const socket = connect(Number(port), hostname, () =>
          socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
        );
        let out = '';
        socket.on('data', (d) => {
          out += d.toString('latin1');
        });
        socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0)));
        socket.on('error', reject);
      });
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    },
  );
});

// ---------------------------------------------------------------------------------------------

interface DocumentServer {
  url: string;
  publicJwk: Record<string, unknown>;
  serve(path: string, contentType: string, text: string): void;
  /** How many requests a path has had. */
  hits(path: string): number;
  /** An RS256 JWS over the given payload text, with this server's key. */
  signJwt(payload: string): string;
  close(): Promise<void>;
}

/** Serves documents as raw text (a 40,000-deep value cannot go through JSON.stringify). */
async function startDocumentServer(): Promise<DocumentServer> {
  const routes = new Map<string, { contentType: string; text: string }>();
  const counts = new Map<string, number>();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const hit = routes.get(path);
    res.writeHead(hit ? 200 : 404, { 'content-type': hit?.contentType ?? 'text/plain' });
    res.end(hit?.text ?? 'not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const key: KeyObject = privateKey;
  return {
    url: `http://127.0.0.1:${port}`,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid: 'deep', alg: 'RS256', use: 'sig' },
    serve: (path, contentType, text) => {
      routes.set(path, { contentType, text });
    },
    hits: (path) => counts.get(path) ?? 0,
    signJwt(payload) {
      const input = `${b64url('{"alg":"RS256","kid":"deep","typ":"JWT"}')}.${b64url(payload)}`;
      return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
    },
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
