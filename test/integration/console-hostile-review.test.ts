import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildResponse, idpMetadata, makeIdpKey, signResponse } from '../../local/demo/saml-idp.ts';
import { consoleCsrf } from '../../shared/console/csrf.ts';
import { sessionCookie } from '../../shared/identity/sessions.ts';
import { launchChromium } from '../helpers/browser.ts';
import { type Answer, ConsoleBrowser, codeOf, csrfOf } from '../helpers/console.ts';
import { BASE_DN, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * A hostile review of the console: a tenant A owner or admin reaching for tenant B, an auditor or a
 * member trying to write, an outsider (cross-site forms, framing, XSS through every value an
 * attacker controls), hostile input, stale forms, secrets, redirects, cache headers, path and
 * method tricks. Each test asserts the secure outcome.
 */
const A = 'hostile-a';
const B = 'hostile-b';
const PASSWORD = 'Hostile-review-passw0rd!';
const X = 'xss-marker';
/** A payload that becomes an element (and an event handler) wherever it is not escaped. */
const XSS = `"'><${X}></${X}><img src=x onerror="window.__pwned=1">`;
const OIDC_SECRET = 'hostile-oidc-secret-0123456789-never-shown';
const people = {
  owner: `owner@${A}.test`,
  admin: `admin@${A}.test`,
  auditor: `auditor@${A}.test`,
  member: `member@${A}.test`,
  demoted: `demoted@${A}.test`,
  ownerB: `owner@${B}.test`,
};
type Who = keyof typeof people;

let stack: TestStack;
let slapd: Slapd;
const sessions = {} as Record<Who, string>;
const ids: Record<string, string> = {};

class Browser extends ConsoleBrowser {
  constructor(session?: string) {
    super(() => stack.url, session);
  }

  /** Uses a setup link as a person does: its page (GET, nothing spent), then its button (POST). */
  async useLink(path: string): Promise<Answer> {
    const shown = await this.get(path);
    if (shown.status !== 200) return shown;
    return this.send('POST', path, { form: { csrf: csrfOf(shown.text) } });
  }

  /** The CSRF token of this browser (opening a page of its tenant first when it has none). */
  async csrf(tenant = A): Promise<string> {
    if (!this.cookies.get('sso_console_csrf')) await this.get(`/console/${tenant}/settings`);
    return this.cookies.get('sso_console_csrf') ?? '';
  }

  /** Posts a form with this browser's own good CSRF token. */
  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    const csrf = await this.csrf(path.split('/')[2]);
    return this.send('POST', path, { form: { csrf, ...fields }, headers });
  }
}

/** A raw request: the path exactly as given (fetch would normalise dots and encodings). */
function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: { accept: 'text/html', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text,
            location: (res.headers.location as string | undefined) ?? null,
            headers: new Headers(res.headers as Record<string, string>),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
  stack.call<T>(method, path, body === undefined ? {} : { body });

/** What a tenant is: settings, connections, users, groups, external roles (to prove nothing was written). */
async function snapshot(tenant: string) {
  const read = async (path: string) => (await api('GET', `/admin/tenants/${tenant}${path}`)).body;
  return JSON.stringify(
    await Promise.all([
      read(''),
      read('/connections'),
      read('/users?limit=100'),
      read('/groups'),
      read('/external-roles'),
    ]),
  );
}

async function signIn(tenantId: string, email: string): Promise<string> {
  const res = await stack.call<{ token: string }>('POST', '/login/password', {
    token: null,
    body: { tenantId, email, password: PASSWORD },
  });
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${res.text}`);
  return res.body.token;
}

const must = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => {
  const res = await api<T>(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return res.body;
};

beforeAll(async () => {
  [stack, slapd] = await Promise.all([startTestStack(), startSlapd()]);
  for (const [id, name] of [
    [A, `Alpha ${XSS}`],
    [B, 'Bravo Secret Company'],
  ] as const) {
    await must('POST', '/admin/tenants', { id, name, settings: {} });
  }
  await must('POST', `/admin/tenants/${B}/users`, {
    email: people.ownerB,
    role: 'owner',
    password: PASSWORD,
  });
  for (const role of ['owner', 'admin', 'auditor', 'member'] as const) {
    const u = await must<{ id: string }>('POST', `/admin/tenants/${A}/users`, {
      email: people[role],
      role,
      password: PASSWORD,
      firstName: `First ${XSS}`,
      lastName: `Last ${XSS}`,
    });
    ids[role] = u.id;
  }
  const demoted = await must<{ id: string }>('POST', `/admin/tenants/${A}/users`, {
    email: people.demoted,
    role: 'admin',
    password: PASSWORD,
  });
  ids.demoted = demoted.id;
  for (const who of Object.keys(people) as Who[])
    sessions[who] = await signIn(who === 'ownerB' ? B : A, people[who]);

  // Tenant B: a connection, a group, an external role, a mapping, an API token of its owner.
  const bConn = await must<{ id: string }>('POST', `/admin/tenants/${B}/connections`, {
    type: 'oidc',
    name: 'Bravo OP',
    enabled: false,
    oidc: {
      issuer: 'https://op.bravo.test',
      authorizationEndpoint: 'https://op.bravo.test/authorize',
      tokenEndpoint: 'https://op.bravo.test/token',
      jwksUri: 'https://op.bravo.test/jwks',
      clientId: 'bravo',
      clientSecret: 'bravo-secret-0123456789-abcdefgh',
    },
  });
  ids.bConn = bConn.id;
  ids.bGroup = (await must<{ id: string }>('POST', `/admin/tenants/${B}/groups`, { name: 'Bravo group' })).id;
  ids.bXrole = (
    await must<{ id: string }>('POST', `/admin/tenants/${B}/external-roles`, {
      connectionId: ids.bConn,
      externalId: 'bravo-eng',
      name: 'Bravo eng',
    })
  ).id;
  await must('PUT', `/admin/tenants/${B}/groups/${ids.bGroup}/external-roles/${ids.bXrole}`, {
    accessLevel: 'member',
  });
  const bUsers = await must<{ items: { id: string }[] }>('GET', `/admin/tenants/${B}/users`);
  ids.bOwner = bUsers.items[0]?.id ?? '';
  const bToken = await stack.call<{ token: string; id: string }>('POST', '/tokens', {
    token: sessions.ownerB,
    body: { name: 'bravo token' },
  });
  ids.bToken = bToken.body.id;
  ids.bTokenSecret = bToken.body.token;

  // Tenant A: hostile values everywhere an attacker can put one.
  const key = makeIdpKey({ cn: 'Evil CN <xss-marker> & "quotes"' });
  const saml = await must<{ id: string }>('POST', `/admin/tenants/${A}/connections`, {
    type: 'saml',
    name: `SAML ${XSS}`,
    enabled: false,
    saml: { idpMetadataXml: idpMetadata(`https://idp.test/${XSS}`, [key.certDer], 'https://idp.test/sso') },
  });
  ids.saml = saml.id;
  const oidc = await must<{ id: string }>('POST', `/admin/tenants/${A}/connections`, {
    type: 'oidc',
    name: `OIDC ${XSS}`,
    enabled: false,
    oidc: {
      issuer: 'https://op.alpha.test',
      authorizationEndpoint: 'https://op.alpha.test/authorize',
      tokenEndpoint: 'https://op.alpha.test/token',
      jwksUri: 'https://op.alpha.test/jwks',
      clientId: 'alpha',
      clientSecret: OIDC_SECRET,
      groupsClaim: XSS,
    },
  });
  ids.oidc = oidc.id;
  const ldap = await must<{ id: string }>('POST', `/admin/tenants/${A}/connections`, {
    type: 'ldap',
    name: `LDAP ${XSS}`,
    enabled: false,
    ldap: {
      url: slapd.ldapsUrl,
      caPem: slapd.caPem,
      dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
      groupSearch: { baseDn: `ou=groups,${BASE_DN}` },
    },
  });
  ids.ldap = ldap.id;
  // A directory group whose name is the payload (its DN names it by description, cn is free text).
  await slapd.admin((client) =>
    client.add(`description=hostile,ou=groups,${BASE_DN}`, {
      objectClass: ['groupOfNames'],
      cn: `dir ${XSS}`,
      description: 'hostile',
      member: `cn=svc,ou=system,${BASE_DN}`,
    }),
  );
  ids.group = (
    await must<{ id: string }>('POST', `/admin/tenants/${A}/groups`, {
      name: `Group ${XSS}`,
      description: `Desc ${XSS}`,
    })
  ).id;
  ids.xrole = (
    await must<{ id: string }>('POST', `/admin/tenants/${A}/external-roles`, {
      connectionId: ids.oidc,
      externalId: `ext ${XSS}`,
      name: `Xrole ${XSS}`,
    })
  ).id;
  await must('PUT', `/admin/tenants/${A}/groups/${ids.group}/external-roles/${ids.xrole}`, {
    accessLevel: 'member',
  });
  const ownerToken = await stack.call<{ token: string; id: string }>('POST', '/tokens', {
    token: sessions.owner,
    body: { name: `Token ${XSS}` },
  });
  ids.ownerToken = ownerToken.body.id;
  ids.ownerTokenSecret = ownerToken.body.token;
}, 90_000);

afterAll(async () => {
  await Promise.all([stack?.close(), slapd?.stop()]);
});

const SECTIONS = ['settings', 'connections', 'users', 'groups', 'tokens', 'audit'];

/** Every form action of every page, with fields that would change something if it were applied. */
const writes = (): [string, Record<string, string>][] => [
  [
    `/console/${A}/settings`,
    { action: 'save', version: '1', sessionMinutes: '7', appUrl: 'https://evil.test/' },
  ],
  [`/console/${A}/users`, { action: 'invite', email: 'planted@evil.test', role: 'admin' }],
  [`/console/${A}/users`, { action: 'role', userId: ids.member ?? '', role: 'admin', version: '1' }],
  [`/console/${A}/users`, { action: 'disable', userId: ids.owner ?? '', version: '1' }],
  [`/console/${A}/users`, { action: 'revoke-sessions', userId: ids.owner ?? '' }],
  [`/console/${A}/groups`, { action: 'create-group', name: 'planted' }],
  [`/console/${A}/groups`, { action: 'unmap', groupId: ids.group ?? '', xroleId: ids.xrole ?? '' }],
  [`/console/${A}/groups`, { action: 'delete-xrole', xroleId: ids.xrole ?? '' }],
  [`/console/${A}/tokens`, { action: 'create', name: 'planted', expiresInDays: '5' }],
  [`/console/${A}/domains`, { action: 'add', domain: 'planted.evil.test' }],
  [
    `/console/${A}/connections/new`,
    { action: 'create', type: 'oidc', name: 'planted', issuer: 'https://evil.test' },
  ],
  [`/console/${A}/connections/${ids.oidc}`, { action: 'enable', version: '1' }],
  [`/console/${A}/connections/${ids.oidc}`, { action: 'delete', version: '1', confirm: 'on' }],
  [
    `/console/${A}/connections/${ids.ldap}`,
    { action: 'import-group', externalId: 'x', groupName: 'planted' },
  ],
];

describe('tenant A reaching for tenant B', () => {
  it('answers 404 on every page and form of B, and B is unchanged', async () => {
    const before = await snapshot(B);
    const owner = new Browser(sessions.owner);
    const csrf = await owner.csrf();
    for (const section of SECTIONS) {
      for (const path of [`/console/${B}/${section}`, `/console/${B}/${section}/${ids.bConn}`]) {
        const page = await owner.get(path);
        expect(page.status, path).toBe(404);
        expect(page.text).not.toContain('Bravo');
        const post = await owner.send('POST', path, {
          form: {
            csrf,
            action: 'delete',
            confirm: 'on',
            version: '1',
            name: 'pwned',
            userId: ids.bOwner ?? '',
          },
        });
        expect(post.status, path).toBe(404);
      }
    }
    expect(await snapshot(B)).toBe(before);
  });

  it('B’s ids in A’s pages: not found, B unchanged, B’s token still works', async () => {
    const before = await snapshot(B);
    const owner = new Browser(sessions.owner);
    const conn = `/console/${A}/connections/${ids.bConn}`;
    const page = await owner.get(conn);
    expect(page.status).toBe(404);
    expect(page.text).not.toContain('Bravo');
    for (const fields of [
      { action: 'enable', version: '1' },
      { action: 'delete', version: '1', confirm: 'on' },
      { action: 'save', version: '1', name: 'pwned' },
      { action: 'test' },
      { action: 'import-group', externalId: 'x', groupName: 'y' },
    ] as Record<string, string>[]) {
      const res = await owner.post(conn, fields);
      expect(res.status, JSON.stringify(fields)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.text).not.toContain('Bravo');
    }
    const attempts: [string, Record<string, string>][] = [
      ['users', { action: 'role', userId: ids.bOwner ?? '', role: 'member', version: '1' }],
      ['users', { action: 'disable', userId: ids.bOwner ?? '', version: '1' }],
      ['users', { action: 'revoke-sessions', userId: ids.bOwner ?? '' }],
      ['users', { action: 'invite-again', userId: ids.bOwner ?? '' }],
      [
        'groups',
        { action: 'map', groupId: ids.bGroup ?? '', xroleId: ids.bXrole ?? '', accessLevel: 'administrator' },
      ],
      [
        'groups',
        { action: 'map', groupId: ids.group ?? '', xroleId: ids.bXrole ?? '', accessLevel: 'administrator' },
      ],
      ['groups', { action: 'unmap', groupId: ids.bGroup ?? '', xroleId: ids.bXrole ?? '' }],
      ['groups', { action: 'delete-xrole', xroleId: ids.bXrole ?? '' }],
      ['groups', { action: 'create-xrole', connectionId: ids.bConn ?? '', externalId: 'x', name: 'via B' }],
      ['tokens', { action: 'revoke', tokenId: ids.bToken ?? '' }],
    ];
    for (const [section, fields] of attempts) {
      const res = await owner.post(`/console/${A}/${section}`, fields);
      expect(res.status, `${section} ${fields.action}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    expect(await snapshot(B)).toBe(before);
    expect((await stack.call('GET', '/session', { token: sessions.ownerB })).status).toBe(200);
    expect((await stack.call('GET', '/session', { token: ids.bTokenSecret })).status).toBe(200);
    expect(mailTo(people.ownerB)).toBe(0);
  });

  it('path tricks (case, encodings, dot segments, doubled slashes) never open B', async () => {
    const cookie = `sso_session=${sessions.owner}`;
    for (const path of [
      `/console/${B.toUpperCase()}/settings`,
      `/console/${A}/../${B}/settings`,
      `/console/${A}/%2e%2e/${B}/settings`,
      `/console/${A}%2F..%2F${B}/settings`,
      `/console/${A}/settings/..%2F..%2F${B}%2Fsettings`,
      `/console/${A}/connections/..%2F..%2F${B}%2Fconnections%2F${ids.bConn}`,
      `/console/${A}/connections/%2E%2E`,
      `/console//${B}/settings`,
      `/console/${B}%00/settings`,
      `/console/${B}%20/settings`,
      `/console/${B}/settings;${A}`,
      `/console/${B}/./settings`,
      `/Console/${B}/settings`,
      `/console/${B}/SETTINGS`,
      `/console/${A}/connections/${ids.bConn?.toUpperCase()}`,
      `/admin/tenants/${B}`,
    ]) {
      const res = await raw('GET', path, { cookie });
      expect(res.status, path).toBeLessThan(500);
      expect(res.status, path).not.toBe(200);
      expect(res.text, path).not.toContain('Bravo');
      if (res.location) expect(res.location, path).not.toContain(B);
    }
  });
});

function mailTo(email: string): number {
  const m = stack.mail as unknown as { lastTo(e: string): unknown };
  return m.lastTo(email) ? 1 : 0;
}

describe('an auditor, a member or a demoted admin wanting to write', () => {
  it('refuses every form of every page to the auditor (403) and to the member (403); nothing written', async () => {
    const before = await snapshot(A);
    for (const who of ['auditor', 'member'] as const) {
      const browser = new Browser(sessions[who]);
      // A member has no page, so no CSRF token from one: the auditor's cookie value stands in.
      const csrf = who === 'member' ? 'A'.repeat(32) : await browser.csrf();
      browser.cookies.set('sso_console_csrf', csrf);
      for (const [path, fields] of writes()) {
        const res = await browser.send('POST', path, { form: { csrf, ...fields } });
        expect(res.status, `${who} ${path} ${fields.action}`).toBe(403);
      }
    }
    expect(await snapshot(A)).toBe(before);
    expect(mailTo('planted@evil.test')).toBe(0);
  });

  it('no GET writes: every page opened with a form’s fields in its query changes nothing', async () => {
    const before = await snapshot(A);
    for (const who of ['auditor', 'owner'] as const) {
      const browser = new Browser(sessions[who]);
      const csrf = await browser.csrf();
      for (const [path, fields] of writes()) {
        const query = new URLSearchParams({ csrf, ...fields }).toString();
        const res = await browser.get(`${path}?${query}`);
        expect(res.status, path).toBeLessThan(500);
      }
    }
    expect(await snapshot(A)).toBe(before);
  });

  it('an auditor does not get the directory search (a network call with the service account)', async () => {
    const auditor = new Browser(sessions.auditor);
    const res = await auditor.get(`/console/${A}/connections/${ids.ldap}?q=`);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('directory-group-results');
  });

  it('other methods on console routes write nothing', async () => {
    const before = await snapshot(A);
    const owner = new Browser(sessions.owner);
    const csrf = await owner.csrf();
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      for (const [path, fields] of writes().slice(0, 4)) {
        const res = await owner.send(method, path, { form: { csrf, ...fields } });
        expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }
    }
    for (const path of ['/console', `/console/${A}`]) {
      const res = await owner.send('POST', path, {
        form: { csrf, action: 'save', version: '1', sessionMinutes: '7' },
      });
      expect(res.status, path).toBeGreaterThanOrEqual(400);
    }
    expect(await snapshot(A)).toBe(before);
  });

  it('a role taken away counts at once: an admin demoted to auditor cannot post with the page she had open', async () => {
    const admin = new Browser(sessions.demoted);
    const page = await admin.get(`/console/${A}/groups`);
    expect(page.status).toBe(200);
    const u = await must<{ version: number }>('GET', `/admin/tenants/${A}/users/${ids.demoted}`);
    await must('PATCH', `/admin/tenants/${A}/users/${ids.demoted}`, { role: 'auditor', version: u.version });
    const res = await admin.send('POST', `/console/${A}/groups`, {
      form: { csrf: csrfOf(page.text), action: 'create-group', name: 'after demotion' },
    });
    expect(res.status).toBe(403);
    const groups = await must<{ items: { name: string }[] }>('GET', `/admin/tenants/${A}/groups`);
    expect(groups.items.map((g) => g.name)).not.toContain('after demotion');
  });

  it('an admin cannot reach the owner role or an owner through the console', async () => {
    const before = await snapshot(A);
    const admin = new Browser(sessions.admin);
    const read = (id: string) => must<{ version: number }>('GET', `/admin/tenants/${A}/users/${id}`);
    const attempts: Record<string, string>[] = [
      {
        action: 'role',
        userId: ids.admin ?? '',
        role: 'owner',
        version: String((await read(ids.admin ?? '')).version),
      },
      {
        action: 'role',
        userId: ids.owner ?? '',
        role: 'member',
        version: String((await read(ids.owner ?? '')).version),
      },
      { action: 'disable', userId: ids.owner ?? '', version: String((await read(ids.owner ?? '')).version) },
      { action: 'invite', email: 'second-owner@evil.test', role: 'owner' },
    ];
    for (const fields of attempts) {
      const res = await admin.post(`/console/${A}/users`, fields);
      expect(res.status, JSON.stringify(fields)).toBe(403);
    }
    // Someone else’s API token is not the admin's to revoke from the tokens page.
    const revoke = await admin.post(`/console/${A}/tokens`, {
      action: 'revoke',
      tokenId: ids.ownerToken ?? '',
    });
    expect(revoke.status).toBe(404);
    expect((await stack.call('GET', '/session', { token: ids.ownerTokenSecret })).status).toBe(200);
    expect(await snapshot(A)).toBe(before);
  });
});

describe('an outsider: cross-site forms', () => {
  const settings = `/console/${A}/settings`;

  it('refuses a foreign, null or look-alike Origin even with the right token, and any other body type', async () => {
    const before = await snapshot(A);
    const owner = new Browser(sessions.owner);
    const csrf = await owner.csrf();
    const version = String(JSON.parse(before)[0].version);
    const fields = { csrf, action: 'save', version, sessionMinutes: '7', appUrl: 'https://evil.test/' };
    const own = new URL(stack.url);
    for (const origin of [
      'null',
      'https://evil.test',
      `${own.origin}.evil.test`,
      `${own.protocol}//evil.test:${own.port}`,
      `${own.origin}/`,
      own.origin.replace('http:', 'https:'),
      own.origin.replace('localhost', '127.0.0.1'),
      `${own.origin}, https://evil.test`,
      '',
    ]) {
      const res = await owner.send('POST', settings, { form: fields, headers: { origin } });
      expect(res.status, origin).toBe(403);
      expect(codeOf(res.text), origin).toBe('csrf_failed');
    }
    const body = new URLSearchParams(fields).toString();
    for (const type of ['text/plain', 'multipart/form-data; boundary=x', 'application/json', '']) {
      const res = await owner.send('POST', settings, { body, headers: { 'content-type': type } });
      expect(res.status, type).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    // Another person's token (from her own browser) does not fit this browser's cookie.
    const admin = new Browser(sessions.admin);
    const other = await admin.csrf();
    expect(other).not.toBe(csrf);
    const mixed = await owner.send('POST', settings, { form: { ...fields, csrf: other } });
    expect(mixed.status).toBe(403);
    // The field twice, or the token in the query string only: refused.
    const twice = await owner.send('POST', settings, {
      body: `${body}&csrf=${encodeURIComponent(csrf)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(twice.status).toBeGreaterThanOrEqual(400);
    const { csrf: _c, ...noToken } = fields;
    const query = await owner.send('POST', `${settings}?csrf=${csrf}`, { form: noToken });
    expect(query.status).toBe(403);
    expect(await snapshot(A)).toBe(before);
  });

  it('Chromium: a form on another site posting to the console (even with a leaked token) writes nothing', async () => {
    const before = await snapshot(A);
    const owner = new Browser(sessions.owner);
    const csrf = await owner.csrf();
    const version = String(JSON.parse(before)[0].version);
    const target = `${stack.url}/console/${A}/settings`;
    const evil = await startHtmlServer(`<!doctype html><form id="f" method="post" action="${target}">
<input name="csrf" value="${csrf}"><input name="action" value="save"><input name="version" value="${version}">
<input name="sessionMinutes" value="7"><input name="appUrl" value="https://evil.test/"></form>
<script>document.getElementById('f').submit()</script>`);
    const browser = await launchChromium();
    try {
      const context = await browser.newContext();
      const host = new URL(stack.url).hostname;
      await context.addCookies([
        {
          name: 'sso_session',
          value: sessions.owner,
          domain: host,
          path: '/',
          sameSite: 'Lax',
          httpOnly: true,
        },
        {
          name: 'sso_console_csrf',
          value: csrf,
          domain: host,
          path: '/console',
          sameSite: 'Strict',
          httpOnly: true,
        },
      ]);
      const page = await context.newPage();
      const answered = page.waitForResponse((r) => r.url() === target, { timeout: 10_000 });
      await page.goto(evil.url);
      const res = await answered;
      // Without its session cookie (SameSite) the console only sends the browser to sign in.
      if (res.status() === 303)
        expect(await res.headerValue('location')).toMatch(new RegExp(`^/t/${A}/login\\?`));
      else expect(res.status()).toBe(403);
      // And the console cannot be framed by that site.
      await page.setContent(`<iframe id="f" src="${target}"></iframe>`);
      await page.waitForTimeout(500);
      const framed = page.frames().find((f) => f.url() === target);
      const framedText = framed
        ? await framed.evaluate(() => document.body?.textContent ?? '').catch(() => '')
        : '';
      expect(framedText).not.toContain('Settings');
    } finally {
      await browser.close();
      evil.server.close();
    }
    expect(await snapshot(A)).toBe(before);
  });
});

async function startHtmlServer(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((socket) => {
    socket.once('data', () => {
      socket.end(
        `HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: ${Buffer.byteLength(html)}\r\nconnection: close\r\n\r\n${html}`,
      );
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/`, server };
}

/** A TCP listener that records what arrives (an attacker's endpoint). */
async function startRecorder(): Promise<{ port: number; seen: () => string; server: Server }> {
  let data = '';
  const server = createServer((socket) => {
    socket.on('data', (c) => {
      data += c.toString('latin1');
      if (/^(GET|POST) /.test(data) && data.includes('\r\n\r\n')) {
        socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      }
    });
    socket.on('error', () => undefined);
    setTimeout(() => socket.destroy(), 3000).unref();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as { port: number }).port, seen: () => data, server };
}

describe('what every console answer carries', () => {
  it('CSP (script by hash only, frame-ancestors none), no-store, nosniff, XFO on pages, errors and the new token', async () => {
    const owner = new Browser(sessions.owner);
    const created = await owner.post(`/console/${A}/tokens`, {
      action: 'create',
      name: 'cache probe',
      expiresInDays: '1',
    });
    expect(created.status).toBe(200);
    expect(created.text).toContain('id="token-secret"');
    const answers: [string, Answer][] = [['token created', created]];
    for (const section of SECTIONS) answers.push([section, await owner.get(`/console/${A}/${section}`)]);
    for (const id of [ids.saml, ids.oidc, ids.ldap])
      answers.push([`conn ${id}`, await owner.get(`/console/${A}/connections/${id}`)]);
    answers.push(['new', await owner.get(`/console/${A}/connections/new?type=saml`)]);
    answers.push(['404', await owner.get(`/console/${A}/nope`)]);
    answers.push(['B', await owner.get(`/console/${B}/settings`)]);
    answers.push(['member', await new Browser(sessions.member).get(`/console/${A}/settings`)]);
    answers.push(['home', await new Browser().get('/console')]);
    answers.push(['home 400', await new Browser().get('/console?tenant=%3Cx%3E')]);
    answers.push(['csrf', await owner.send('POST', `/console/${A}/settings`, { form: { action: 'save' } })]);
    answers.push(['refused', await owner.post(`/console/${A}/settings`, { action: 'save', version: 'x' })]);
    for (const [what, res] of answers) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, what).toContain("frame-ancestors 'none'");
      expect(csp, what).toContain("default-src 'none'");
      expect(csp, what).toContain("base-uri 'none'");
      const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
      expect(scriptSrc, what).not.toMatch(/unsafe-inline|unsafe-eval|\*|data:|https?:/);
      expect(res.headers.get('cache-control'), what).toBe('no-store');
      expect(res.headers.get('x-frame-options'), what).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(res.text, what).not.toMatch(/\n\s*at [\w.<>$]+ \(.*:\d+:\d+\)|node_modules\/|\.ts:\d+:\d+/);
      // Each inline script is allowed by its hash; nothing else runs.
      for (const m of res.text.matchAll(/<script>([\s\S]*?)<\/script>/g)) {
        const hash = `'sha256-${createHash('sha256')
          .update(m[1] ?? '', 'utf8')
          .digest('base64')}'`;
        expect(scriptSrc, what).toContain(hash);
      }
      // No script file and no event handler attribute (attribute values, escaped, left out).
      expect(res.text.replace(/"[^"]*"/g, '""'), what).not.toMatch(
        /<script[^>]+src=|<[a-z][^>]*\son[a-z]+=/i,
      );
    }
  });

  it('cookies: the CSRF cookie HttpOnly, SameSite=Strict, Path=/console; Secure (both cookies) on an https deployment', async () => {
    const page = await new Browser(sessions.owner).get(`/console/${A}/settings`);
    const cookie = page.headers.getSetCookie().find((c) => c.startsWith('sso_console_csrf=')) ?? '';
    expect(cookie).toMatch(/; Path=\/console;/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    // On an https deployment both cookies are Secure (a second local stack would share the process's
    // configuration, so the two cookie builders are asked directly).
    const rt = { config: { BASE_URL: 'https://sso.example.com' } } as unknown as Parameters<
      typeof consoleCsrf
    >[0];
    const csrf = consoleCsrf(rt, { cookies: {} } as unknown as Parameters<typeof consoleCsrf>[1]);
    expect(csrf.cookie).toMatch(/; HttpOnly; SameSite=Strict;.*; Secure$/);
    expect(sessionCookie(rt, 'x', 60)).toMatch(/HttpOnly; SameSite=Lax;.*; Secure$/);
  });
});

describe('redirects', () => {
  it('no console parameter sends the browser off the service', async () => {
    const owner = new Browser(sessions.owner);
    const anon = new Browser();
    const candidates: [Browser, string][] = [
      [anon, '/console?tenant=//evil.test'],
      [anon, '/console?tenant=https://evil.test'],
      [anon, `/console?tenant=${A}&redirect=https://evil.test`],
      [anon, `/console/${A}/settings?redirect=https://evil.test`],
      [anon, `/console/${A}/settings?next=//evil.test`],
      [owner, '/console?tenant=//evil.test'],
      [owner, `/console/${A}/settings?done=https://evil.test`],
      [owner, `/console/${A}/settings?done=//evil.test&redirect=https://evil.test`],
      [owner, `/console/${A}?redirect=https://evil.test`],
    ];
    for (const [browser, path] of candidates) {
      const res = await browser.get(path);
      expect(res.status, path).toBeLessThan(500);
      if (res.location) {
        expect(res.location, path).toMatch(/^\/(console|t)\//);
        const inner = new URL(res.location, stack.url).searchParams.get('redirect');
        if (inner) expect(inner.startsWith(`${stack.url}/console/${A}/`), path).toBe(true);
      }
      expect(res.text, path).not.toContain('evil.test"');
    }
    // After each form, the browser goes back to a page of this tenant's console.
    const group = await owner.post(`/console/${A}/groups`, {
      action: 'create-group',
      name: 'redirect probe',
      redirect: 'https://evil.test',
      done: 'https://evil.test',
    });
    expect(group.status).toBe(303);
    expect(group.location).toBe(`/console/${A}/groups?done=group-created`);
  });

  it('the hosted login’s redirect takes only this tenant’s console pages back from the console', async () => {
    const usual = `${stack.url}/t/${A}/login`;
    for (const candidate of [
      `${stack.url}/console/${A}/settings/x/y`,
      `${stack.url}/console/${A}/settings?x=https://evil.test`,
      `${stack.url}/console/${A}/.`,
      `${stack.url}/console/${A}/%2e`,
      `${stack.url}/console/${A}@evil.test/settings`,
      `${stack.url}/console/${A}/settings\n`,
      `${stack.url}/console/${B}/settings`,
      `${stack.url}.evil.test/console/${A}/settings`,
      `${stack.url}@evil.test/console/${A}/settings`,
    ]) {
      const browser = new Browser();
      const page = await browser.get(`/t/${A}/login?redirect=${encodeURIComponent(candidate)}`);
      expect(page.status, candidate).toBeLessThan(500);
      const form = /<form method="post" action="([^"]+)" id="password-form">/.exec(page.text);
      const fields: Record<string, string> = {};
      for (const m of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
        fields[m[1] ?? ''] = (m[2] ?? '').replaceAll('&amp;', '&');
      }
      const url = new URL(form?.[1]?.replaceAll('&amp;', '&') ?? `/t/${A}/login`, stack.url);
      const res = await browser.send('POST', url.pathname + url.search, {
        form: { ...fields, email: people.admin, password: PASSWORD },
        headers: { origin: stack.url },
      });
      expect(res.location, candidate).toBe(usual);
    }
  });
});

describe('stale forms', () => {
  it('a user’s role, a connection delete and a connection save with a typed secret: 409, nothing applied', async () => {
    const owner = new Browser(sessions.owner);
    const users = await owner.get(`/console/${A}/users`);
    const m = await must<{ version: number }>('GET', `/admin/tenants/${A}/users/${ids.member}`);
    await must('PATCH', `/admin/tenants/${A}/users/${ids.member}`, {
      firstName: 'Changed meanwhile',
      version: m.version,
    });
    const role = await owner.send('POST', `/console/${A}/users`, {
      form: {
        csrf: csrfOf(users.text),
        action: 'role',
        userId: ids.member ?? '',
        role: 'admin',
        version: String(m.version),
      },
    });
    expect(role.status).toBe(409);
    expect(await must('GET', `/admin/tenants/${A}/users/${ids.member}`)).toMatchObject({ role: 'member' });

    const path = `/console/${A}/connections/${ids.oidc}`;
    const page = await owner.get(path);
    const c = await must<{ version: number }>('GET', `/admin/tenants/${A}/connections/${ids.oidc}`);
    await must('PATCH', `/admin/tenants/${A}/connections/${ids.oidc}`, {
      name: `OIDC ${XSS}`,
      version: c.version,
    });
    const del = await owner.send('POST', path, {
      form: { csrf: csrfOf(page.text), action: 'delete', confirm: 'on', version: String(c.version) },
    });
    expect(del.status).toBe(409);
    const typed = 'stale-typed-secret-0123456789-abcdef';
    const save = await owner.send('POST', path, {
      form: {
        csrf: csrfOf(page.text),
        action: 'save',
        version: String(c.version),
        name: 'stale',
        issuer: 'https://op.alpha.test',
        clientId: 'alpha',
        clientSecret: typed,
      },
    });
    expect(save.status).toBe(409);
    expect(save.text).not.toContain(typed);
    const after = await must<{ name: string }>('GET', `/admin/tenants/${A}/connections/${ids.oidc}`);
    expect(after.name).toBe(`OIDC ${XSS}`);
    // A version from the future, or none at all, is not a way around it.
    for (const version of ['999999', '0', '', '1.5', '-1', '1e3']) {
      const res = await owner.post(`/console/${A}/settings`, {
        action: 'save',
        version,
        sessionMinutes: '7',
      });
      expect([400, 409], version).toContain(res.status);
    }
  });
});

describe('secrets', () => {
  it('a refused form never echoes a typed secret, nor renders the stored one', async () => {
    const owner = new Browser(sessions.owner);
    const typed = 'typed-secret-<b>-0123456789-abcdefghij';
    const attempts: [string, Record<string, string>][] = [
      [
        `/console/${A}/connections/new`,
        {
          action: 'create',
          type: 'oidc',
          name: 'x',
          issuer: 'not a url',
          clientId: 'c',
          clientSecret: typed,
        },
      ],
      [
        `/console/${A}/connections/new`,
        {
          action: 'create',
          type: 'oidc',
          name: '',
          issuer: 'https://op.test',
          clientId: 'c',
          clientSecret: typed,
        },
      ],
      [
        `/console/${A}/connections/new`,
        {
          action: 'create',
          type: 'oidc',
          name: 'x',
          issuer: 'https://op.test',
          clientId: 'c',
          clientSecret: typed.repeat(200),
        },
      ],
      [
        `/console/${A}/connections/new`,
        {
          action: 'create',
          type: 'ldap',
          name: 'x',
          url: 'bogus',
          'search.serviceAccountDn': 'cn=x',
          'search.serviceAccountPassword': typed,
        },
      ],
      [
        `/console/${A}/connections/${ids.oidc}`,
        {
          action: 'save',
          version: '1',
          name: '',
          issuer: 'https://op.alpha.test',
          clientId: 'alpha',
          clientSecret: typed,
        },
      ],
      [
        `/console/${A}/connections/${ids.ldap}`,
        {
          action: 'save',
          version: '1',
          name: 'x',
          url: 'bogus',
          'search.serviceAccountDn': SVC.dn,
          'search.serviceAccountPassword': typed,
        },
      ],
      [`/console/${A}/connections/${ids.oidc}`, { action: 'nope', clientSecret: typed }],
      [`/console/${A}/settings`, { action: 'save', version: 'x', clientSecret: typed, password: typed }],
    ];
    for (const [path, fields] of attempts) {
      const res = await owner.post(path, fields);
      expect(res.status, `${path} ${fields.action}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.text, path).not.toContain('typed-secret');
      expect(res.text, path).not.toContain(OIDC_SECRET);
      expect(res.text, path).not.toContain(SVC.password);
    }
  });

  it('pointing a connection at another host from the console does not carry its stored secret there', async () => {
    const owner = new Browser(sessions.owner);
    // OIDC: the token endpoint moved to the attacker; the live test must not send the client secret.
    const op = await startRecorder();
    const ldap = await startRecorder();
    try {
      const oidcPath = `/console/${A}/connections/${ids.oidc}`;
      const c = await must<{ version: number }>('GET', `/admin/tenants/${A}/connections/${ids.oidc}`);
      const save = await owner.post(oidcPath, {
        action: 'save',
        version: String(c.version),
        name: `OIDC ${XSS}`,
        'provisioning.mode': 'jit',
        'provisioning.defaultRole': 'member',
        issuer: 'https://op.alpha.test',
        authorizationEndpoint: 'https://op.alpha.test/authorize',
        tokenEndpoint: `http://127.0.0.1:${op.port}/token`,
        jwksUri: 'https://op.alpha.test/jwks',
        clientId: 'alpha',
        clientSecret: '',
        tokenEndpointAuthMethod: 'client_secret_basic',
      });
      expect(save.status).toBeLessThan(500);
      await owner.post(oidcPath, { action: 'test' });
      const basic = Buffer.from(`alpha:${OIDC_SECRET}`).toString('base64');
      const secretsOf = async (id: string) =>
        (await must<{ secretsSet: string[] }>('GET', `/admin/tenants/${A}/connections/${id}`)).secretsSet;
      expect(save.status, save.text.slice(0, 300)).toBe(303);
      expect(await secretsOf(ids.oidc ?? '')).toEqual([]);
      expect(op.seen()).not.toContain(OIDC_SECRET);
      expect(op.seen()).not.toContain(basic);
      expect((await owner.get(oidcPath)).text).not.toContain(OIDC_SECRET);

      // LDAP: the URL moved to the attacker, in plain LDAP; test and group search must not bind with the password.
      const ldapPath = `/console/${A}/connections/${ids.ldap}`;
      const l = await must<{ version: number }>('GET', `/admin/tenants/${A}/connections/${ids.ldap}`);
      const moved = await owner.post(ldapPath, {
        action: 'save',
        version: String(l.version),
        name: `LDAP ${XSS}`,
        'provisioning.mode': 'jit',
        'provisioning.defaultRole': 'member',
        url: `ldap://127.0.0.1:${ldap.port}`,
        insecure: 'on',
        caPem: slapd.caPem,
        dnMethod: 'search',
        'search.baseDn': BASE_DN,
        'search.serviceAccountDn': SVC.dn,
        'search.serviceAccountPassword': '',
        groupMode: 'search',
        'groups.baseDn': `ou=groups,${BASE_DN}`,
      });
      expect(moved.status).toBeLessThan(500);
      expect(moved.status, moved.text.slice(0, 300)).toBe(303);
      expect(await secretsOf(ids.ldap ?? '')).toEqual([]);
      await owner.post(ldapPath, { action: 'test' });
      await owner.get(`${ldapPath}?q=`);
      expect(ldap.seen()).not.toContain(SVC.password);
    } finally {
      op.server.close();
      ldap.server.close();
    }
  });
});

describe('hostile input', () => {
  it('no 5xx and no stack trace for odd encodings, sizes, names and numbers', async () => {
    const owner = new Browser(sessions.owner);
    const csrf = await owner.csrf();
    const ct = { 'content-type': 'application/x-www-form-urlencoded' };
    const bodies = [
      `csrf=${csrf}&action=save&version=%ff%fe`,
      `csrf=${csrf}&action=save&version=%`,
      `csrf=${csrf}&action=save&version=1&sessionMinutes=99999999999999999999`,
      `csrf=${csrf}&action=save&version=1&appUrl=javascript:alert(1)`,
      `csrf=${csrf}&action=save&version=1&allowedRedirectUrls=${encodeURIComponent('javascript:alert(1)\n//evil.test')}`,
      `csrf=${csrf}&action=save&version=1&sessionMinutes=%00`,
      `csrf=${csrf}&__proto__=x&constructor=y&action=toString&version=1`,
      `csrf=${csrf}&action=save&version=1&${'x'.repeat(200)}=${'y'.repeat(900_000)}`,
      `csrf=${csrf}&action=${'a'.repeat(10_000)}`,
      `csrf=${csrf}&action=create-group&name=${encodeURIComponent('\u0000\u202e')}%ED%A0%80${''}`,
      `csrf=${csrf}&action=invite&email=${encodeURIComponent(`a@b.test${XSS}`)}&role=__proto__`,
    ];
    const paths = [
      `/console/${A}/settings`,
      `/console/${A}/groups`,
      `/console/${A}/users`,
      `/console/${A}/tokens`,
    ];
    for (const path of paths) {
      for (const body of bodies) {
        const res = await owner.send('POST', path, { body, headers: ct });
        expect(res.status, `${path} ${body.slice(0, 80)}`).toBeLessThan(500);
        expect(res.text).not.toMatch(/\n\s*at [\w.<>$]+ \(.*:\d+:\d+\)|node_modules\/|\.ts:\d+:\d+/);
        expect(res.text).not.toContain(`<${X}>`);
      }
    }
    for (const query of [
      `?cursor=${'x'.repeat(5000)}`,
      '?cursor=%ff',
      `?type=${encodeURIComponent(XSS)}&actor=${encodeURIComponent(XSS)}`,
      `?email=${encodeURIComponent(XSS)}`,
      `?done=${encodeURIComponent(XSS)}`,
      '?done=__proto__',
      '?done=constructor',
      `?q=${encodeURIComponent(`*)(cn=*${XSS}`)}`,
      `?type=${encodeURIComponent(XSS)}`,
    ]) {
      for (const section of ['audit', 'users', 'settings', `connections/${ids.ldap}`, 'connections/new']) {
        const res = await owner.get(`/console/${A}/${section}${query}`);
        expect(res.status, `${section}${query}`).toBeLessThan(500);
        expect(res.text, `${section}${query}`).not.toContain(`<${X}>`);
        expect(res.text).not.toContain('id="flash"');
      }
    }
  });
});

describe('XSS through every value an attacker controls', () => {
  /** The pages that show the hostile values, with the actions that put more there. */
  async function hostilePages(owner: Browser): Promise<[string, string][]> {
    // Values that only the console takes: a token name, a refused form's echo, audit details.
    const token = await owner.post(`/console/${A}/tokens`, {
      action: 'create',
      name: `Console ${XSS}`,
      expiresInDays: '1',
    });
    const refusedSettings = await owner.post(`/console/${A}/settings`, {
      action: 'save',
      version: '1',
      sessionMinutes: '60',
      appUrl: `https://app.test/${XSS}`,
      allowedRedirectUrls: `https://app.test/${XSS}\njavascript:${XSS}`,
      defaultApplication: XSS,
    });
    const refusedInvite = await owner.post(`/console/${A}/users`, {
      action: 'invite',
      email: `${XSS}@x.test`,
      firstName: XSS,
      role: XSS,
    });
    const refusedGroup = await owner.post(`/console/${A}/groups`, {
      action: 'create-xrole',
      connectionId: XSS,
      externalId: XSS,
      name: XSS,
    });
    const refusedConn = await owner.post(`/console/${A}/connections/new`, {
      action: 'create',
      type: 'saml',
      name: XSS,
      metadataSource: 'url',
      idpMetadataUrl: `https://idp.test/${XSS}`,
      groupsAttribute: XSS,
    });
    const refusedXml = await owner.post(`/console/${A}/connections/new`, {
      action: 'create',
      type: 'saml',
      name: 'x',
      metadataSource: 'xml',
      idpMetadataXml: `<x>${XSS}</x>`,
    });
    const ldapTest = await owner.post(`/console/${A}/connections/${ids.ldap}`, { action: 'test' });
    const pages: [string, string][] = [
      ['token', token.text],
      ['refused settings', refusedSettings.text],
      ['refused invite', refusedInvite.text],
      ['refused xrole', refusedGroup.text],
      ['refused connection', refusedConn.text],
      ['refused xml', refusedXml.text],
      ['ldap test', ldapTest.text],
    ];
    for (const path of [
      ...SECTIONS.map((s) => `/console/${A}/${s}`),
      `/console/${A}/connections/${ids.saml}`,
      `/console/${A}/connections/${ids.oidc}`,
      `/console/${A}/connections/${ids.ldap}?q=dir`,
      `/console/${A}/connections/${ids.ldap}?q=${encodeURIComponent(XSS)}`,
      `/console/${A}/audit?type=${encodeURIComponent(XSS)}&actor=${encodeURIComponent(XSS)}`,
      `/console/${A}/users?email=${encodeURIComponent(XSS)}`,
      `/console/${A}/settings?done=${encodeURIComponent(XSS)}`,
      `/console/${A}/connections/new?type=${encodeURIComponent(XSS)}`,
      `/console/${A}/audit?cursor=${encodeURIComponent(XSS)}`,
    ]) {
      pages.push([path, (await owner.get(path)).text]);
    }
    return pages;
  }

  it('escapes each of them (never an element or an attribute of its own), and Chromium runs none of them', async () => {
    const owner = new Browser(sessions.owner);
    // The directory as it was (a test above moved it, which discarded its password).
    const l = await must<{ version: number }>('GET', `/admin/tenants/${A}/connections/${ids.ldap}`);
    await must('PATCH', `/admin/tenants/${A}/connections/${ids.ldap}`, {
      version: l.version,
      ldap: {
        url: slapd.ldapsUrl,
        insecure: false,
        caPem: slapd.caPem,
        dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
      },
    });
    const pages = await hostilePages(owner);
    // The values are really there (escaped), so the check is not vacuous.
    const all = pages.map(([, text]) => text).join('\n');
    for (const needle of [
      'Group ',
      'Xrole ',
      'SAML ',
      'LDAP ',
      'OIDC ',
      'First ',
      'Token ',
      'Console ',
      'dir ',
    ]) {
      expect(all, needle).toContain(`${needle}&quot;&#39;&gt;&lt;${X}&gt;`);
    }
    for (const [what, text] of pages) {
      expect(text, what).not.toContain(`<${X}`);
      expect(text, what).not.toMatch(/<img src=x/);
    }
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ javaScriptEnabled: true });
      const page = await context.newPage();
      let dialogs = 0;
      page.on('dialog', async (d) => {
        dialogs++;
        await d.dismiss();
      });
      await context.route('**/*', (route) =>
        route.request().url().startsWith(stack.url) ? route.continue() : route.abort(),
      );
      for (const [what, html] of pages) {
        await page.goto(`${stack.url}/console`);
        await page.setContent(html, { waitUntil: 'domcontentloaded' });
        const found = await page.evaluate(
          (x) => ({
            markers: document.querySelectorAll(x).length,
            handlers: Array.from(document.querySelectorAll('*')).filter((e) =>
              Array.from(e.attributes).some((a) => a.name.startsWith('on')),
            ).length,
            scripts: document.scripts.length,
            pwned: (window as unknown as { __pwned?: number }).__pwned ?? 0,
          }),
          X,
        );
        expect(found, what).toEqual({ markers: 0, handlers: 0, scripts: found.scripts, pwned: 0 });
        expect(found.scripts, what).toBeLessThanOrEqual(1);
      }
      expect(dialogs).toBe(0);
    } finally {
      await browser.close();
    }
  });
});

describe('setup links', () => {
  const makeLink = async (tenant = A, token = sessions.owner) =>
    stack.call<{ id: string; url: string }>('POST', `/admin/tenants/${tenant}/setup-links`, {
      token,
      body: {},
    });
  const pathOf = (url: string) => new URL(url).pathname;

  it('one use, its own tenant only; the cookie HttpOnly, scoped to the tenant; only owners and admins make them', async () => {
    const link = await makeLink();
    expect(link.status, link.text).toBe(201);
    const path = pathOf(link.body.url);
    const token = path.split('/').at(-1) ?? '';
    // At another tenant's address, or altered: refused, and not spent.
    for (const wrong of [
      `/console/${B}/setup/${token}`,
      `/console/${A}/setup/${token.toUpperCase()}`,
      `/console/${A}/setup/${token}x`,
      `/console/${A}/setup/${token.slice(0, -1)}`,
      `/console/${A}/setup/${'x'.repeat(300)}`,
      `/console/${A}/setup/..%2F${token}`,
    ]) {
      const res = await raw('GET', wrong);
      expect(res.status, wrong).toBeGreaterThanOrEqual(400);
      expect(res.status, wrong).toBeLessThan(500);
      expect(res.headers.get('set-cookie') ?? '', wrong).not.toContain('sso_setup=');
    }
    const browser = new Browser();
    const opened = await browser.useLink(path);
    expect(opened.status).toBe(303);
    expect(opened.location).toBe(`/console/${A}/connections`);
    expect(opened.headers.get('cache-control')).toBe('no-store');
    const cookie = opened.headers.getSetCookie().find((c) => c.startsWith('sso_setup=')) ?? '';
    expect(cookie).toMatch(new RegExp(`; Path=/console/${A};`));
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=(Lax|Strict)/);
    const again = await new Browser().useLink(path);
    expect(again.status).toBe(400);
    expect(codeOf(again.text)).toBe('link_invalid');
    expect(again.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // Who makes them: not an auditor, a member, nor another tenant's owner.
    expect((await makeLink(A, sessions.auditor)).status).toBe(403);
    expect((await makeLink(A, sessions.member)).status).toBe(403);
    expect((await makeLink(A, sessions.ownerB)).status).toBe(404);
    expect((await makeLink(B, sessions.owner)).status).toBe(404);
  });

  it('its session opens the connections of its tenant only, posts with CSRF like any other, and is no bearer', async () => {
    const link = await makeLink();
    const holder = new Browser();
    expect((await holder.useLink(pathOf(link.body.url))).status).toBe(303);
    const setupId = holder.cookies.get('sso_setup') ?? '';
    const page = await holder.get(`/console/${A}/connections`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(OIDC_SECRET);
    const csrf = csrfOf(page.text);
    const beforeA = await snapshot(A);
    const beforeB = await snapshot(B);
    for (const section of ['settings', 'domains', 'users', 'groups', 'tokens', 'audit']) {
      expect((await holder.get(`/console/${A}/${section}`)).status, section).toBe(403);
    }
    for (const [path, fields] of writes().filter(([p]) => !p.includes('/connections'))) {
      const res = await holder.send('POST', path, { form: { csrf, ...fields } });
      expect(res.status, `${path} ${fields.action}`).toBe(403);
    }
    // The cookie sent by hand to another tenant's console.
    for (const section of SECTIONS) {
      expect((await holder.get(`/console/${B}/${section}`)).status, section).toBe(404);
      const res = await holder.send('POST', `/console/${B}/connections/new`, {
        form: {
          csrf,
          action: 'create',
          type: 'oidc',
          name: 'planted',
          issuer: 'https://evil.test',
          clientId: 'x',
        },
      });
      expect(res.status).toBe(404);
    }
    // Cross-site and token-less posts, as for a person.
    const create = {
      action: 'create',
      type: 'oidc',
      name: 'planted',
      issuer: 'https://op.evil.test',
      clientId: 'x',
    };
    expect(
      (
        await holder.send('POST', `/console/${A}/connections/new`, {
          form: create,
          headers: { origin: 'https://evil.test' },
        })
      ).status,
    ).toBe(403);
    expect(
      (await holder.send('POST', `/console/${A}/connections/new`, { form: { ...create, csrf: '' } })).status,
    ).toBe(403);
    expect(await snapshot(A)).toBe(beforeA);
    expect(await snapshot(B)).toBe(beforeB);
    // Not a credential of the admin API (which a setup principal could otherwise use for any of its tenant's settings).
    for (const [method, path] of [
      ['GET', `/admin/tenants/${A}`],
      ['GET', `/admin/tenants/${A}/connections`],
      ['POST', `/admin/tenants/${A}/setup-links`],
      ['GET', '/tokens'],
    ] as const) {
      const res = await stack.call(method, path, {
        token: setupId,
        ...(method === 'POST' ? { body: {} } : {}),
      });
      expect(res.status, path).toBe(401);
      const cookieOnly = await stack.call(method, path, {
        token: null,
        headers: { cookie: `sso_setup=${setupId}` },
        ...(method === 'POST' ? { body: {} } : {}),
      });
      expect(cookieOnly.status, path).toBe(401);
    }
  });

  it('revoked, its session ends at once: its open page posts nothing', async () => {
    const link = await makeLink();
    const holder = new Browser();
    await holder.useLink(pathOf(link.body.url));
    const page = await holder.get(`/console/${A}/connections/new?type=oidc`);
    expect(page.status).toBe(200);
    const revoke = await stack.call('DELETE', `/admin/tenants/${A}/setup-links/${link.body.id}`, {
      token: sessions.owner,
    });
    expect(revoke.status).toBe(204);
    const before = await snapshot(A);
    const res = await holder.send('POST', `/console/${A}/connections/new`, {
      form: {
        csrf: csrfOf(page.text),
        action: 'create',
        type: 'oidc',
        name: 'after revoke',
        issuer: 'https://op.evil.test',
        clientId: 'x',
      },
    });
    expect(res.status).toBe(401);
    expect(await snapshot(A)).toBe(before);
    // Once its cookie was cleared, the browser is only sent to sign in.
    const later = await holder.get(`/console/${A}/connections`);
    expect(later.status === 401 || later.location?.startsWith(`/t/${A}/login?`)).toBe(true);
  });

  it('its holder configures SSO but cannot make the accounts a connection creates admins', async () => {
    const link = await makeLink();
    const holder = new Browser();
    expect((await holder.useLink(pathOf(link.body.url))).status).toBe(303);
    const form = await holder.get(`/console/${A}/connections/new?type=oidc`);
    expect(form.status).toBe(200);
    const created = await holder.send('POST', `/console/${A}/connections/new`, {
      form: {
        csrf: csrfOf(form.text),
        action: 'create',
        type: 'oidc',
        name: 'Holder OP',
        'provisioning.mode': 'jit',
        'provisioning.defaultRole': 'admin',
        issuer: 'https://op.holder.test',
        authorizationEndpoint: 'https://op.holder.test/authorize',
        tokenEndpoint: 'https://op.holder.test/token',
        jwksUri: 'https://op.holder.test/jwks',
        clientId: 'holder',
        clientSecret: 'holder-secret-0123456789-abcdef',
      },
    });
    const list = await must<{ items: { name: string; provisioning: { defaultRole: string } }[] }>(
      'GET',
      `/admin/tenants/${A}/connections`,
    );
    const made = list.items.find((c) => c.name === 'Holder OP');
    // Secure outcome: refused, or saved without the admin role.
    expect(created.status === 303 ? made?.provisioning.defaultRole : 'refused').not.toBe('admin');
  });
});

describe('setup links: application access', () => {
  it('its holder cannot map a directory group to an application group with administrator access (the groups page is not theirs)', async () => {
    const link = await stack.call<{ url: string }>('POST', `/admin/tenants/${A}/setup-links`, {
      token: sessions.owner,
      body: {},
    });
    const holder = new Browser();
    expect((await holder.useLink(new URL(link.body.url).pathname)).status).toBe(303);
    const page = await holder.get(`/console/${A}/connections/${ids.ldap}`);
    expect(page.status).toBe(200);
    const res = await holder.send('POST', `/console/${A}/connections/${ids.ldap}`, {
      form: {
        csrf: csrfOf(page.text),
        action: 'import-group',
        externalId: 'holder-controlled-group',
        groupName: 'holder group',
        groupId: ids.group ?? '',
        accessLevel: 'administrator',
      },
    });
    const xroles = await must<{ items: { id: string; externalId: string }[] }>(
      'GET',
      `/admin/tenants/${A}/external-roles`,
    );
    const planted = xroles.items.find((x) => x.externalId === 'holder-controlled-group');
    // Secure outcome: refused (403), no external role, no mapping to the group with administrator access.
    expect({ status: res.status, planted: planted !== undefined }).toEqual({ status: 403, planted: false });
  });
});

describe('setup links: past the SSO pages through the IdP the holder configures', () => {
  it.each(['setup link', 'admin'] as const)(
    'a connection a %s makes does not sign its maker in as the tenant’s owner',
    async (maker) => {
      const holder = new Browser(maker === 'admin' ? sessions.admin : undefined);
      if (maker === 'setup link') {
        const link = await stack.call<{ url: string }>('POST', `/admin/tenants/${A}/setup-links`, {
          token: sessions.owner,
          body: {},
        });
        expect((await holder.useLink(new URL(link.body.url).pathname)).status).toBe(303);
      }
      const key = makeIdpKey({ cn: 'Holder IdP' });
      const entity = `https://idp.${maker === 'admin' ? 'admin' : 'holder'}.test/metadata`;
      const form = await holder.get(`/console/${A}/connections/new?type=saml`);
      const created = await holder.send('POST', `/console/${A}/connections/new`, {
        form: {
          csrf: csrfOf(form.text),
          action: 'create',
          type: 'saml',
          name: `IdP of the ${maker}`,
          'provisioning.mode': 'jit',
          'provisioning.defaultRole': 'member',
          metadataSource: 'xml',
          idpMetadataXml: idpMetadata(entity, [key.certDer], 'https://idp.holder.test/sso'),
        },
      });
      expect(created.status, created.text.slice(0, 300)).toBe(303);
      const path = (created.location ?? '').split('?')[0] ?? '';
      const id = path.split('/').at(-1) ?? '';
      const page = await holder.get(path);
      const version = /name="version" value="(\d+)"/.exec(page.text)?.[1] ?? '';
      const enabled = await holder.send('POST', path, {
        form: { csrf: csrfOf(page.text), action: 'enable', version },
      });
      expect(enabled.status, enabled.text.slice(0, 300)).toBe(303);
      const view = await must<{ sp: { entityId: string; acsUrl: string } }>(
        'GET',
        `/admin/tenants/${A}/connections/${id}`,
      );
      const xml = signResponse(
        buildResponse({
          issuer: entity,
          destination: view.sp.acsUrl,
          recipient: view.sp.acsUrl,
          audiences: [view.sp.entityId],
          nameId: people.owner,
          attributes: {},
        }),
        key,
        'assertion',
      );
      const acs = await fetch(`${stack.url}/saml/${id}/acs`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64') }).toString(),
      });
      const body = (await acs.json().catch(() => ({}))) as { token?: string; session?: { email?: string } };
      const token = body.token ?? /sso_session=([^;]+)/.exec(acs.headers.getSetCookie().join(';'))?.[1];
      // What a session from that login opens: the console as whom, with what role.
      const opened = token ? await new Browser(token).get(`/console/${A}/users`) : undefined;
      const role = opened ? /id="who-role">([^<]+)</.exec(opened.text)?.[1] : undefined;
      // Secure outcome: the maker's own IdP never opens the owner's account (nor any owner's or admin's).
      expect({ status: acs.status, email: body.session?.email, role }).not.toMatchObject({
        email: people.owner,
      });
      expect(['owner', 'admin']).not.toContain(role);
    },
  );
});
