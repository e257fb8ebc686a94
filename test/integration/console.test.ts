import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idpMetadata, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { configureRuntime } from '../../shared/runtime.ts';
import { ConsoleBrowser, codeOf, csrfOf } from '../helpers/console.ts';
import { closedDnsAddress, startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { BASE_DN, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The console over HTTP, as a browser sends it: the session cookie, the CSRF cookie and field,
 * form posts. What it must never do: write on a missing or wrong CSRF token or from another
 * origin, let an auditor or a member change anything, show another tenant, apply a stale form,
 * or render a stored secret.
 */
const TENANT = 'console-co';
const OTHER = 'console-other';
const PASSWORD = 'Console-passw0rd-long!';
const people = {
  owner: `owner@${TENANT}.test`,
  admin: `admin@${TENANT}.test`,
  auditor: `auditor@${TENANT}.test`,
  member: `member@${TENANT}.test`,
  otherOwner: `owner@${OTHER}.test`,
};
const OIDC_SECRET = 'oidc-client-secret-never-shown-0123456789';

let stack: TestStack;
let slapd: Slapd;
let dns: TestDnsServer;
const sessions: Record<keyof typeof people, string> = {
  owner: '',
  admin: '',
  auditor: '',
  member: '',
  otherOwner: '',
};
const ids: Record<string, string> = {};
/** A second session of the member, for the sign-out-everywhere test. */
let spareMemberSession = '';

/** A browser's cookie jar and form posts, over fetch. */
class Browser extends ConsoleBrowser {
  constructor(session?: string) {
    super(() => stack.url, session);
  }

  /** Opens the page, then posts one of its forms (the CSRF field as the page rendered it). */
  async submit(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    const page = await this.get(path);
    expect(page.status, page.text.slice(0, 300)).toBe(200);
    return this.send('POST', path.split('?')[0] ?? path, {
      form: { csrf: csrfOf(page.text), ...fields },
      headers,
    });
  }
}

const versionOf = (html: string, formId: string) =>
  new RegExp(`id="${formId}"[^>]*>(?:<input[^>]*>)*?<input type="hidden" name="version" value="(\\d+)"`).exec(
    html,
  )?.[1] ?? '';

async function signIn(tenantId: string, email: string): Promise<string> {
  const res = await stack.call<{ token: string }>('POST', '/login/password', {
    token: null,
    body: { tenantId, email, password: PASSWORD },
  });
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${res.text}`);
  return res.body.token;
}

const tenantSettings = async () =>
  (
    await stack.call<{ version: number; settings: Record<string, unknown> }>(
      'GET',
      `/admin/tenants/${TENANT}`,
    )
  ).body;

beforeAll(async () => {
  dns = await startDnsServer();
  process.env.DNS_SERVERS = dns.address;
  [stack, slapd] = await Promise.all([startTestStack(), startSlapd()]);
  for (const [id, owner] of [
    [TENANT, people.owner],
    [OTHER, people.otherOwner],
  ] as const) {
    const t = await stack.call('POST', '/admin/tenants', {
      body: { id, name: id === TENANT ? 'Console Company' : 'Other Company', settings: {} },
    });
    if (t.status !== 201) throw new Error(t.text);
    const u = await stack.call('POST', `/admin/tenants/${id}/users`, {
      body: { email: owner, role: 'owner', password: PASSWORD },
    });
    if (u.status !== 201) throw new Error(u.text);
  }
  for (const role of ['admin', 'auditor', 'member'] as const) {
    const u = await stack.call('POST', `/admin/tenants/${TENANT}/users`, {
      body: { email: people[role], role, password: PASSWORD },
    });
    if (u.status !== 201) throw new Error(u.text);
  }
  for (const who of Object.keys(people) as (keyof typeof people)[]) {
    sessions[who] = await signIn(who === 'otherOwner' ? OTHER : TENANT, people[who]);
  }
  spareMemberSession = await signIn(TENANT, people.member);
  const oidc = await stack.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/connections`, {
    body: {
      type: 'oidc',
      name: 'Corporate OP',
      enabled: false,
      oidc: {
        issuer: 'https://op.console.test',
        authorizationEndpoint: 'https://op.console.test/authorize',
        tokenEndpoint: 'https://op.console.test/token',
        jwksUri: 'https://op.console.test/jwks',
        clientId: 'console-client',
        clientSecret: OIDC_SECRET,
      },
    },
  });
  if (oidc.status !== 201) throw new Error(oidc.text);
  ids.oidc = oidc.body.id;
}, 90_000);

afterAll(async () => {
  await Promise.all([stack?.close(), slapd?.stop(), dns?.close()]);
});

const settingsPath = `/console/${TENANT}/settings`;

describe('getting in', () => {
  it('GET /console: to the signed-in tenant’s settings, or to sign in', async () => {
    const owner = new Browser(sessions.owner);
    const home = await owner.get('/console');
    expect(home.status).toBe(303);
    expect(home.location).toBe(settingsPath);

    const anonymous = new Browser();
    const ask = await anonymous.get('/console');
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('Organization id');
    const toLogin = await anonymous.get(`/console?tenant=${TENANT}`);
    expect(toLogin.status).toBe(303);
    expect(toLogin.location).toBe(
      `/t/${TENANT}/login?redirect=${encodeURIComponent(`${stack.url}/console/${TENANT}/settings`)}`,
    );
    expect((await anonymous.get('/console?tenant=Not%20A%20Slug')).status).toBe(400);
    const page = await anonymous.get(`${settingsPath}?x=1`);
    expect(page.status).toBe(303);
    expect(page.location).toMatch(new RegExp(`^/t/${TENANT}/login\\?redirect=`));
  });

  it('comes back to the console page after signing in on the hosted page; near misses land as usual', async () => {
    /** Signs the admin in on the hosted login page opened with `?redirect=`, as a browser does. */
    const landing = async (redirect: string) => {
      const browser = new Browser();
      const page = await browser.get(`/t/${TENANT}/login?redirect=${encodeURIComponent(redirect)}`);
      expect(page.status).toBe(200);
      const form = /<form method="post" action="([^"]+)" id="password-form">/.exec(page.text);
      const fields: Record<string, string> = {};
      for (const m of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
        fields[m[1] ?? ''] = (m[2] ?? '').replaceAll('&amp;', '&');
      }
      const url = new URL(form?.[1]?.replaceAll('&amp;', '&') ?? '', stack.url);
      const res = await browser.send('POST', url.pathname + url.search, {
        form: { ...fields, email: people.admin, password: PASSWORD },
        headers: { origin: stack.url },
      });
      expect(res.status, res.text).toBe(303);
      return { location: res.location, browser };
    };
    for (const path of [
      `/console/${TENANT}`,
      `/console/${TENANT}/settings`,
      `/console/${TENANT}/connections/${ids.oidc}`,
      `/console/${TENANT}/connections/new`,
    ]) {
      const { location, browser } = await landing(`${stack.url}${path}`);
      expect(location, path).toBe(`${stack.url}${path}`);
      // The session it set opens that page.
      expect((await browser.get(path)).status, path).toBe(path === `/console/${TENANT}` ? 303 : 200);
    }
    const usual = `${stack.url}/t/${TENANT}/login`;
    for (const candidate of [
      `${stack.url}/console/${OTHER}/settings`,
      `${stack.url}/console/${TENANT}/settings?next=https://evil.test/`,
      `${stack.url}/console/${TENANT}/settings#x`,
      `${stack.url}/console/${TENANT}/`,
      `${stack.url}/console/${TENANT}/connections/${ids.oidc}/more`,
      `${stack.url}/console/${TENANT}/../../admin/tenants`,
      `${stack.url}/console/${TENANT}/..`,
      `${stack.url}/console/${TENANT}/%2e%2e/x`,
      `${stack.url}/console/${TENANT}/a%2Fb`,
      `${stack.url}/console/${TENANT}/a%252Fb`,
      `${stack.url}/console/${TENANT}/a\\b`,
      `${stack.url}/console//${TENANT}/settings`,
      `${stack.url}/consoles/${TENANT}/settings`,
      `${stack.url}/console/${TENANT.toUpperCase()}/settings`,
      `${stack.url.replace('://', '://user@')}/console/${TENANT}/settings`,
      `https://evil.test/console/${TENANT}/settings`,
      `//evil.test/console/${TENANT}/settings`,
      `/console/${TENANT}/settings`,
    ]) {
      expect((await landing(candidate)).location, candidate).toBe(usual);
    }
  });

  it('renders the signed-in page with who and what role, its CSP and the CSRF cookie', async () => {
    const owner = new Browser(sessions.owner);
    const page = await owner.get(settingsPath);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Console Company');
    expect(page.text).toContain(people.owner);
    expect(page.text).toMatch(/id="who-role">owner</);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("form-action 'self'");
    const cookie = page.headers.getSetCookie().find((c) => c.startsWith('sso_console_csrf='));
    expect(cookie).toMatch(/Path=\/console; HttpOnly; SameSite=Strict/);
    expect(csrfOf(page.text)).toBe(owner.cookies.get('sso_console_csrf'));
    // The same token across renders while its cookie stands: two tabs both work.
    expect(csrfOf((await owner.get(`/console/${TENANT}/users`)).text)).toBe(csrfOf(page.text));
  });

  it('never takes a bearer credential: the operator token, a session JWT or an API token in Authorization', async () => {
    const api = await stack.call<{ token: string }>('POST', '/tokens', {
      token: sessions.owner,
      body: { name: 'bearer probe' },
    });
    for (const token of [stack.operatorToken, sessions.owner, api.body.token]) {
      const res = await new Browser().get(settingsPath, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(303);
      expect(res.location).toMatch(/\/login\?redirect=/);
    }
  });

  it('refuses a member on every page (403), shows another tenant’s console as not found (404)', async () => {
    const member = new Browser(sessions.member);
    for (const section of ['settings', 'connections', 'domains', 'users', 'groups', 'tokens', 'audit']) {
      const res = await member.get(`/console/${TENANT}/${section}`);
      expect(res.status).toBe(403);
      expect(codeOf(res.text)).toBe('forbidden');
    }
    const memberPost = await member.send('POST', `/console/${TENANT}/domains`, {
      form: { csrf: 'x', action: 'add', domain: 'member.console-co.example' },
      headers: { origin: stack.url },
    });
    expect(memberPost.status).toBe(403);
    expect(codeOf(memberPost.text)).toBe('forbidden');
    const domains = await stack.call<{ items: { domain: string }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/domains`,
    );
    expect(domains.body.items.map((d) => d.domain)).not.toContain('member.console-co.example');
    const other = new Browser(sessions.otherOwner);
    const res = await other.get(settingsPath);
    expect(res.status).toBe(404);
    expect(codeOf(res.text)).toBe('not_found');
    expect(res.text).not.toContain('Console Company');
    const post = await other.send('POST', settingsPath, {
      form: { csrf: 'x', action: 'save', version: '1', appUrl: 'https://evil.test/' },
    });
    expect(post.status).toBe(404);
  });

  it('answers 404 pages with the code for unknown sections, items and tenants', async () => {
    const owner = new Browser(sessions.owner);
    for (const path of [
      `/console/${TENANT}/nope`,
      `/console/${TENANT}/connections/00000000-0000-0000-0000-000000000000`,
      `/console/${TENANT}/connections/a%20b`,
      '/console/NOT_A_TENANT/settings',
    ]) {
      const res = await owner.get(path);
      expect(res.status, path).toBe(404);
      expect(codeOf(res.text), path).toBe('not_found');
    }
  });
});

describe('CSRF and origin', () => {
  const post = (browser: Browser, form: Record<string, string>, headers: Record<string, string> = {}) =>
    browser.send('POST', settingsPath, { form, headers });

  it('refuses a post without the token, with a wrong one, or without the cookie: 403 csrf_failed, nothing written', async () => {
    const owner = new Browser(sessions.owner);
    const page = await owner.get(settingsPath);
    const before = await tenantSettings();
    const fields = {
      action: 'save',
      version: String(before.version),
      sessionMinutes: '60',
      appUrl: 'https://hijacked.test/',
    };
    const attempts = [
      await post(owner, fields),
      await post(owner, { ...fields, csrf: `${csrfOf(page.text)}x` }),
      await post(owner, { ...fields, csrf: '' }),
      await new Browser(sessions.owner).send('POST', settingsPath, {
        form: { ...fields, csrf: csrfOf(page.text) },
      }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect(codeOf(res.text)).toBe('csrf_failed');
    }
    expect(await tenantSettings()).toEqual(before);
  });

  it('refuses a post from another origin even with a good token; takes its own origin', async () => {
    const owner = new Browser(sessions.owner);
    const page = await owner.get(settingsPath);
    const before = await tenantSettings();
    const form = {
      csrf: csrfOf(page.text),
      action: 'save',
      version: String(before.version),
      ssoEnabled: 'on',
      'passwordRole.owner': 'on',
      'passwordRole.admin': 'on',
      sessionMinutes: '480',
      appUrl: 'https://app.console.test/',
    };
    const cross = await post(owner, form, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(codeOf(cross.text)).toBe('csrf_failed');
    expect(await tenantSettings()).toEqual(before);
    const same = await post(owner, form, { origin: new URL(stack.url).origin });
    expect(same.status, same.text.slice(0, 400)).toBe(303);
    expect((await tenantSettings()).settings.appUrl).toBe('https://app.console.test/');
  });

  it('refuses a JSON body (not a console form)', async () => {
    const owner = new Browser(sessions.owner);
    await owner.get(settingsPath);
    const res = await owner.send('POST', settingsPath, {
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(415);
  });
});

describe('roles', () => {
  it('lets an auditor look at every page, read-only, and refuses each post with 403 forbidden', async () => {
    const auditor = new Browser(sessions.auditor);
    for (const section of ['settings', 'connections', 'domains', 'users', 'groups', 'tokens', 'audit']) {
      const res = await auditor.get(`/console/${TENANT}/${section}`);
      expect(res.status, section).toBe(200);
      expect(res.text).toContain('id="read-only"');
    }
    const before = await tenantSettings();
    const res = await auditor.submit(settingsPath, {
      action: 'save',
      version: String(before.version),
      sessionMinutes: '30',
    });
    expect(res.status).toBe(403);
    expect(codeOf(res.text)).toBe('forbidden');
    const token = await auditor.submit(`/console/${TENANT}/tokens`, {
      action: 'create',
      name: 'x',
      expiresInDays: '5',
    });
    expect(token.status).toBe(403);
    expect(await tenantSettings()).toEqual(before);
  });

  it('lets an admin change settings, recorded in the audit trail as that person', async () => {
    const admin = new Browser(sessions.admin);
    const page = await admin.get(settingsPath);
    const version = versionOf(page.text, 'settings-form');
    const res = await admin.send('POST', settingsPath, {
      form: {
        csrf: csrfOf(page.text),
        action: 'save',
        version,
        ssoEnabled: 'on',
        forbidPasswordLogin: 'on',
        'passwordRole.owner': 'on',
        'passwordRole.admin': 'on',
        sessionMinutes: '90',
        appUrl: 'https://app.console.test/',
        allowedRedirectUrls: 'https://app.console.test/deep\r\nhttps://app.console.test/other',
      },
    });
    expect(res.status, res.text.slice(0, 500)).toBe(303);
    expect(res.location).toBe(`${settingsPath}?done=settings-saved`);
    const after = await tenantSettings();
    expect(after.settings).toMatchObject({
      forbidPasswordLogin: true,
      passwordLoginRoles: ['owner', 'admin'],
      sessionTtlSeconds: 5400,
      allowedRedirectUrls: ['https://app.console.test/deep', 'https://app.console.test/other'],
    });
    const shown = await admin.get(res.location ?? '');
    expect(shown.text).toContain('id="flash"');
    const audit = await stack.call<{ items: { type: string; detail: Record<string, unknown> }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/audit`,
    );
    expect(audit.body.items.find((r) => r.type === 'tenant.settings_changed')?.detail).toMatchObject({
      actor: 'user',
      actorVia: 'session',
    });
  });

  it('shows the service’s refusal with its code and message, the form filled in again', async () => {
    const owner = new Browser(sessions.owner);
    const before = await tenantSettings();
    const res = await owner.submit(settingsPath, {
      action: 'save',
      version: String(before.version),
      ssoEnabled: 'on',
      forbidPasswordLogin: 'on',
      'passwordRole.member': 'on',
      sessionMinutes: '60',
      appUrl: 'https://app.console.test/',
    });
    expect(res.status).toBe(400);
    expect(codeOf(res.text)).toBe('lockout_risk');
    expect(res.text).toContain('administrators are never locked out');
    expect(await tenantSettings()).toEqual(before);
  });
});

describe('stale forms', () => {
  it('a settings form rendered before another change answers 409 and says to reload; nothing is overwritten', async () => {
    const owner = new Browser(sessions.owner);
    const page = await owner.get(settingsPath);
    const staleVersion = versionOf(page.text, 'settings-form');
    const meanwhile = await stack.call('PATCH', `/admin/tenants/${TENANT}`, {
      body: { settings: { appUrl: 'https://meanwhile.console.test/' } },
    });
    expect(meanwhile.status).toBe(200);
    const before = await tenantSettings();
    const res = await owner.send('POST', settingsPath, {
      form: {
        csrf: csrfOf(page.text),
        action: 'save',
        version: staleVersion,
        ssoEnabled: 'on',
        'passwordRole.owner': 'on',
        sessionMinutes: '60',
        appUrl: 'https://stale.console.test/',
      },
    });
    expect(res.status).toBe(409);
    expect(codeOf(res.text)).toBe('version_conflict');
    expect(res.text).toContain('Reload the page');
    expect(res.text).not.toContain('id="settings-form"');
    expect(await tenantSettings()).toEqual(before);
  });

  it('a connection form rendered before another change is refused the same way', async () => {
    const owner = new Browser(sessions.owner);
    const path = `/console/${TENANT}/connections/${ids.oidc}`;
    const page = await owner.get(path);
    const version = versionOf(page.text, 'connection-form');
    expect(version).not.toBe('');
    await stack.call('PATCH', `/admin/tenants/${TENANT}/connections/${ids.oidc}`, {
      body: { name: 'Renamed' },
    });
    const res = await owner.send('POST', path, {
      form: { csrf: csrfOf(page.text), action: 'enable', version },
    });
    expect(res.status).toBe(409);
    expect(codeOf(res.text)).toBe('version_conflict');
    const read = await stack.call<{ enabled: boolean; name: string }>(
      'GET',
      `/admin/tenants/${TENANT}/connections/${ids.oidc}`,
    );
    expect(read.body).toMatchObject({ enabled: false, name: 'Renamed' });
  });
});

describe('secrets are write-only', () => {
  it('never renders an OIDC client secret; a save without one keeps it, a typed one replaces it', async () => {
    const owner = new Browser(sessions.owner);
    const path = `/console/${TENANT}/connections/${ids.oidc}`;
    const page = await owner.get(path);
    expect(page.text).not.toContain(OIDC_SECRET);
    expect(page.text).toContain('Client secret: set');
    const read = async () =>
      (
        await stack.call<{ secretsSet: string[]; name: string; version: number }>(
          'GET',
          `/admin/tenants/${TENANT}/connections/${ids.oidc}`,
        )
      ).body;
    const form = {
      action: 'save',
      name: 'Corporate OP',
      'provisioning.mode': 'jit',
      'provisioning.defaultRole': 'member',
      issuer: 'https://op.console.test',
      authorizationEndpoint: 'https://op.console.test/authorize',
      tokenEndpoint: 'https://op.console.test/token',
      jwksUri: 'https://op.console.test/jwks',
      clientId: 'console-client',
      clientSecret: '',
      tokenEndpointAuthMethod: 'client_secret_basic',
      'prompt.consent': 'on',
    };
    const kept = await owner.submit(path, { ...form, version: String((await read()).version) });
    expect(kept.status, kept.text.slice(0, 600)).toBe(303);
    expect(await read()).toMatchObject({ name: 'Corporate OP', secretsSet: ['clientSecret'] });
    const replaced = await owner.submit(path, {
      ...form,
      version: String((await read()).version),
      clientSecret: 'a-new-secret-0123456789-abcdef',
    });
    expect(replaced.status).toBe(303);
    const after = await owner.get(path);
    expect(after.text).not.toContain('a-new-secret-0123456789-abcdef');
    expect(after.text).not.toContain(OIDC_SECRET);
  });

  it('never renders an LDAP service account password, and keeps it across saves of the same directory', async () => {
    const owner = new Browser(sessions.owner);
    const created = await owner.submit(`/console/${TENANT}/connections/new?type=ldap`, {
      action: 'create',
      type: 'ldap',
      name: 'Directory',
      'provisioning.mode': 'jit',
      'provisioning.defaultRole': 'member',
      url: slapd.ldapsUrl,
      caPem: slapd.caPem.replace(/\n/g, '\r\n'),
      dnMethod: 'search',
      'search.baseDn': BASE_DN,
      'search.serviceAccountDn': SVC.dn,
      'search.serviceAccountPassword': SVC.password,
      groupMode: 'search',
      'groups.baseDn': `ou=groups,${BASE_DN}`,
    });
    expect(created.status, created.text.slice(0, 800)).toBe(303);
    const path = (created.location ?? '').split('?')[0] ?? '';
    ids.ldap = path.split('/').at(-1) ?? '';
    const page = await owner.get(path);
    expect(page.text).not.toContain(SVC.password);
    expect(page.text).toContain('Service account password: set');
    expect(page.text).toContain('id="disabled-note"');
    // Saved again unchanged (the CA comes back from the textarea with CRLF): the password stays.
    const save = await owner.send('POST', path, {
      form: {
        csrf: csrfOf(page.text),
        action: 'save',
        version: versionOf(page.text, 'connection-form'),
        name: 'Directory',
        'provisioning.mode': 'jit',
        'provisioning.defaultRole': 'member',
        url: slapd.ldapsUrl,
        caPem: slapd.caPem.replace(/\n/g, '\r\n'),
        dnMethod: 'search',
        'search.baseDn': BASE_DN,
        'search.userObjectClass': 'inetOrgPerson',
        'search.mailAttribute': 'mail',
        'search.serviceAccountDn': SVC.dn,
        'search.serviceAccountPassword': '',
        groupMode: 'search',
        'groups.baseDn': `ou=groups,${BASE_DN}`,
        'groups.objectClass': 'groupOfNames',
        'groups.memberAttribute': 'member',
      },
    });
    expect(save.status, save.text.slice(0, 800)).toBe(303);
    const read = await stack.call<{ secretsSet: string[]; compatibility: { compatible: boolean } }>(
      'GET',
      `/admin/tenants/${TENANT}/connections/${ids.ldap}`,
    );
    expect(read.body.secretsSet).toEqual(['dnResolution.serviceAccount.password']);
    // The live test binds with it.
    const tested = await owner.submit(path, { action: 'test' });
    expect(tested.status).toBe(200);
    expect(tested.text).toContain('id="test-result"');
    expect(tested.text).toMatch(/service_account/);
    expect(tested.text).not.toContain(SVC.password);
  });
});

describe('the pages do what the admin API does', () => {
  it('creates a SAML connection switched off, with its report and SP values, then enables it', async () => {
    const owner = new Browser(sessions.owner);
    const key = makeIdpKey({ cn: 'Console IdP' });
    const created = await owner.submit(`/console/${TENANT}/connections/new?type=saml`, {
      action: 'create',
      type: 'saml',
      name: 'Console IdP',
      'provisioning.mode': 'jit',
      'provisioning.defaultRole': 'member',
      metadataSource: 'xml',
      idpMetadataXml: idpMetadata('https://idp.console.test', [key.certDer], 'https://idp.console.test/sso'),
      groupsAttribute: 'groups',
    });
    expect(created.status, created.text.slice(0, 800)).toBe(303);
    expect(created.location).toMatch(/\?done=connection-checked$/);
    const page = await owner.get(created.location ?? '');
    const id = (created.location ?? '').split('?')[0]?.split('/').at(-1) ?? '';
    expect(page.text).toContain('data-compatible="true"');
    expect(page.text).toContain(`value="${stack.url}/saml/${id}/acs"`);
    expect(page.text).toContain(`value="${stack.url}/saml/${id}/metadata.xml"`);
    const enabled = await owner.send('POST', `/console/${TENANT}/connections/${id}`, {
      form: { csrf: csrfOf(page.text), action: 'enable', version: versionOf(page.text, 'connection-form') },
    });
    expect(enabled.status).toBe(303);
    const read = await stack.call<{ enabled: boolean; saml: { groupsAttribute: string } }>(
      'GET',
      `/admin/tenants/${TENANT}/connections/${id}`,
    );
    expect(read.body).toMatchObject({ enabled: true, saml: { groupsAttribute: 'groups' } });
    // Deleting asks for the confirmation first.
    const refused = await owner.submit(`/console/${TENANT}/connections/${id}`, {
      action: 'delete',
      version: '2',
    });
    expect(refused.status).toBe(400);
    const deleted = await owner.submit(`/console/${TENANT}/connections/${id}`, {
      action: 'delete',
      version: '2',
      confirm: 'on',
    });
    expect(deleted.status).toBe(303);
    expect((await stack.call('GET', `/admin/tenants/${TENANT}/connections/${id}`)).status).toBe(404);
  });

  it('rotates, activates and retires a SAML connection’s SP keys, as the admin routes do', async () => {
    const key = makeIdpKey({ cn: 'Rotating IdP' });
    const made = await stack.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/connections`, {
      body: {
        type: 'saml',
        name: 'Rotating IdP',
        enabled: false,
        saml: {
          idpMetadataXml: idpMetadata(
            'https://idp.rotate.test',
            [key.certDer],
            'https://idp.rotate.test/sso',
          ),
        },
      },
    });
    expect(made.status, made.text).toBe(201);
    const path = `/console/${TENANT}/connections/${made.body.id}`;
    interface Certificate {
      fingerprint: string;
      status: string;
    }
    const certificates = async () =>
      (
        await stack.call<{ version: number; sp: { certificates: Certificate[] } }>(
          'GET',
          `/admin/tenants/${TENANT}/connections/${made.body.id}`,
        )
      ).body.sp.certificates;
    const first = await certificates();
    expect(first.map((c) => c.status)).toEqual(['current']);
    const owner = new Browser(sessions.owner);
    const page = await owner.get(path);
    expect(page.text).toContain('id="sp-rotate"');
    expect(page.text).not.toContain('id="sp-activate"');
    expect(page.text).toContain(first[0]?.fingerprint);

    // Without the CSRF token, or from an auditor: refused, nothing changed.
    const forged = await owner.send('POST', path, { form: { action: 'sp-rotate', graceDays: '7' } });
    expect(forged.status).toBe(403);
    expect(codeOf(forged.text)).toBe('csrf_failed');
    const auditor = new Browser(sessions.auditor);
    const seen = await auditor.get(path);
    expect(seen.text).toMatch(/id="sp-rotate" disabled/);
    const refused = await auditor.submit(path, { action: 'sp-rotate', graceDays: '7' });
    expect(refused.status).toBe(403);
    expect(codeOf(refused.text)).toBe('forbidden');
    const outOfRange = await owner.submit(path, { action: 'sp-rotate', graceDays: '91' });
    expect(outOfRange.status).toBe(400);
    expect(codeOf(outOfRange.text)).toBe('invalid_request');
    expect(await certificates()).toEqual(first);

    // Rotate: a next key published beside the current one.
    const rotated = await owner.submit(path, { action: 'sp-rotate', graceDays: '3' });
    expect(rotated.status, rotated.text.slice(0, 600)).toBe(303);
    expect(rotated.location).toBe(`${path}?done=sp-keys-rotated`);
    const two = await certificates();
    expect(two.map((c) => c.status)).toEqual(['current', 'next']);
    const next = two[1]?.fingerprint ?? '';
    const afterRotate = await owner.get(rotated.location ?? '');
    expect(afterRotate.text).toContain('A new SP key was made');
    expect(afterRotate.text.match(/<tr data-certificate=/g)).toHaveLength(2);
    expect(afterRotate.text).toContain(next);
    expect(afterRotate.text).toContain('id="sp-activate"');
    expect(afterRotate.text).not.toContain('id="sp-rotate"');

    // Activate: the new key is the current one, the old one retiring.
    const activated = await owner.submit(path, { action: 'sp-activate' });
    expect(activated.location).toBe(`${path}?done=sp-keys-activated`);
    const switched = await certificates();
    expect(switched.find((c) => c.status === 'current')?.fingerprint).toBe(next);
    expect(switched.find((c) => c.status === 'retiring')?.fingerprint).toBe(first[0]?.fingerprint);
    const afterActivate = await owner.get(path);
    expect(afterActivate.text).toMatch(new RegExp(`<tr data-certificate="current">.*?<code>${next}</code>`));
    expect(afterActivate.text).toContain('id="sp-retire"');

    // Retire: only the new key is left.
    const retired = await owner.submit(path, { action: 'sp-retire' });
    expect(retired.location).toBe(`${path}?done=sp-keys-retired`);
    expect((await certificates()).map((c) => [c.status, c.fingerprint])).toEqual([['current', next]]);

    // The same trail as the admin routes, as the owner.
    const trail = await stack.call<{ items: { type: string; detail: Record<string, unknown> }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/audit?limit=50`,
    );
    const event = trail.body.items.find((i) => i.type === 'connection.sp_keys_activated');
    expect(event?.detail).toMatchObject({ actor: 'user', actorVia: 'session', connectionId: made.body.id });

    // Another protocol has no SP keys: the refusal shows on the page.
    const oidc = await owner.submit(`/console/${TENANT}/connections/${ids.oidc}`, { action: 'sp-rotate' });
    expect(oidc.status).toBe(400);
    expect(codeOf(oidc.text)).toBe('not_supported');
  });

  it('invites a user (the mail goes out), changes the role, disables, enables, signs out everywhere', async () => {
    const owner = new Browser(sessions.owner);
    const users = `/console/${TENANT}/users`;
    const email = 'invitee@console-co.test';
    const invited = await owner.submit(users, { action: 'invite', email, role: 'auditor' });
    expect(invited.status, invited.text.slice(0, 600)).toBe(303);
    expect(stack.mail.lastTo(email)?.subject).toContain('Console Company');
    const member = async () =>
      (
        await stack.call<{ items: { id: string; role: string; status: string; version: number }[] }>(
          'GET',
          `/admin/tenants/${TENANT}/users?email=${encodeURIComponent(email)}`,
        )
      ).body.items[0];
    expect(await member()).toMatchObject({ role: 'auditor', status: 'invited' });
    const { id } = (await member()) ?? { id: '' };
    const role = await owner.submit(users, {
      action: 'role',
      userId: id,
      role: 'admin',
      version: String((await member())?.version),
    });
    expect(role.status).toBe(303);
    expect(await member()).toMatchObject({ role: 'admin' });
    expect(
      (
        await owner.submit(users, {
          action: 'disable',
          userId: id,
          version: String((await member())?.version),
        })
      ).status,
    ).toBe(303);
    expect(await member()).toMatchObject({ status: 'disabled' });
    expect(
      (
        await owner.submit(users, {
          action: 'enable',
          userId: id,
          version: String((await member())?.version),
        })
      ).status,
    ).toBe(303);
    expect(await member()).toMatchObject({ status: 'active' });
    // The member’s session ends at once.
    const memberSession = spareMemberSession;
    const memberId = (
      await stack.call<{ items: { id: string }[] }>(
        'GET',
        `/admin/tenants/${TENANT}/users?email=${people.member}`,
      )
    ).body.items[0]?.id;
    const revoked = await owner.submit(users, { action: 'revoke-sessions', userId: memberId ?? '' });
    expect(revoked.status).toBe(303);
    expect((await stack.call('GET', '/session', { token: memberSession })).status).toBe(401);
    // An admin may not make an owner (the service’s rule, shown with its code).
    const admin = new Browser(sessions.admin);
    const promote = await admin.submit(users, {
      action: 'role',
      userId: id,
      role: 'owner',
      version: String((await member())?.version),
    });
    expect(promote.status).toBe(403);
    expect(codeOf(promote.text)).toBe('forbidden');
  });

  it('creates an API token shown once, lists it without the secret, revokes it', async () => {
    const owner = new Browser(sessions.owner);
    const path = `/console/${TENANT}/tokens`;
    const created = await owner.submit(path, {
      action: 'create',
      name: 'console script',
      expiresInDays: '7',
    });
    expect(created.status).toBe(200);
    const secret = /id="token-secret" value="(sso_[A-Za-z0-9_-]{43})"/.exec(created.text)?.[1] ?? '';
    expect(secret).not.toBe('');
    expect((await stack.call('GET', '/session', { token: secret })).status).toBe(200);
    const listed = await owner.get(path);
    expect(listed.text).toContain('console script');
    expect(listed.text).not.toContain(secret);
    const tokenId =
      /name="tokenId" value="([^"]+)"><button type="submit" class="small danger" data-revoke="console script"/.exec(
        listed.text,
      )?.[1];
    const revoked = await owner.send('POST', path, {
      form: { csrf: csrfOf(listed.text), action: 'revoke', tokenId: tokenId ?? '' },
    });
    expect(revoked.status).toBe(303);
    expect((await stack.call('GET', '/session', { token: secret })).status).toBe(401);
  });

  it('creates a group and an external role, maps them with an access level and removes the mapping', async () => {
    const owner = new Browser(sessions.owner);
    const path = `/console/${TENANT}/groups`;
    expect((await owner.submit(path, { action: 'create-group', name: 'Engineering' })).status).toBe(303);
    const xrole = await owner.submit(path, {
      action: 'create-xrole',
      connectionId: ids.oidc ?? '',
      externalId: 'eng',
      name: 'eng claim',
    });
    expect(xrole.status).toBe(303);
    const group = (
      await stack.call<{ items: { id: string; name: string }[] }>('GET', `/admin/tenants/${TENANT}/groups`)
    ).body.items.find((g) => g.name === 'Engineering');
    const x = (
      await stack.call<{ items: { id: string; name: string }[] }>(
        'GET',
        `/admin/tenants/${TENANT}/external-roles`,
      )
    ).body.items.find((r) => r.name === 'eng claim');
    const mapped = await owner.submit(path, {
      action: 'map',
      groupId: group?.id ?? '',
      xroleId: x?.id ?? '',
      accessLevel: 'administrator',
    });
    expect(mapped.status).toBe(303);
    const page = await owner.get(path);
    expect(page.text).toMatch(/data-mapping="eng claim">eng claim → <span class="badge">administrator/);
    const removed = await owner.submit(path, {
      action: 'unmap',
      groupId: group?.id ?? '',
      xroleId: x?.id ?? '',
    });
    expect(removed.status).toBe(303);
    expect((await owner.get(path)).text).not.toContain('data-mapping="eng claim"');
  });

  it('shows the audit trail, filtered by event type and actor, a page at a time', async () => {
    const owner = new Browser(sessions.owner);
    const all = await owner.get(`/console/${TENANT}/audit`);
    expect(all.status).toBe(200);
    expect(all.text).toContain('tenant.settings_changed');
    const filtered = await owner.get(
      `/console/${TENANT}/audit?type=connection&actor=${encodeURIComponent(people.owner)}`,
    );
    const types = [...filtered.text.matchAll(/<tr data-type="([^"]+)"/g)].map((m) => m[1]);
    expect(types.length).toBeGreaterThan(0);
    expect(types.every((t) => t?.startsWith('connection.'))).toBe(true);
    const bad = await owner.get(`/console/${TENANT}/audit?cursor=not-a-cursor`);
    expect(bad.status).toBe(400);
    expect(codeOf(bad.text)).toBe('invalid_request');
  });
});

describe('hostile forms', () => {
  it('never answers 5xx to a console post with a good CSRF token and hostile fields', async () => {
    const owner = new Browser(sessions.owner);
    const page = await owner.get(settingsPath);
    const csrf = csrfOf(page.text);
    const paths = [
      settingsPath,
      `/console/${TENANT}/users`,
      `/console/${TENANT}/groups`,
      `/console/${TENANT}/tokens`,
      `/console/${TENANT}/audit`,
      `/console/${TENANT}/connections/new`,
      `/console/${TENANT}/connections/${ids.oidc}`,
    ];
    const hostile = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        '',
        'on',
        '0',
        '-1',
        '1e309',
        'x'.repeat(3000),
        '<script>',
        '__proto__',
        'saml',
        'ldap',
        'oidc',
      ),
    );
    const keys = [
      'action',
      'version',
      'type',
      'name',
      'email',
      'role',
      'userId',
      'tokenId',
      'groupId',
      'xroleId',
      'connectionId',
      'externalId',
      'accessLevel',
      'sessionMinutes',
      'appUrl',
      'issuer',
      'url',
      'dnMethod',
      'idpMetadataXml',
      'metadataSource',
      'expiresInDays',
      'confirm',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.dictionary(fc.constantFrom(...keys), hostile, { maxKeys: 8 }),
        fc.constantFrom(
          'save',
          'create',
          'invite',
          'role',
          'map',
          'unmap',
          'delete',
          'enable',
          'revoke',
          'x',
        ),
        async (path, fields, action) => {
          const res = await owner.send('POST', path, { form: { action, ...fields, csrf } });
          expect(
            res.status,
            `${path} ${JSON.stringify(fields).slice(0, 200)}: ${res.text.slice(0, 300)}`,
          ).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('domains', () => {
  const domainsPath = `/console/${TENANT}/domains`;
  const cardOf = (html: string, domain: string) =>
    new RegExp(
      `<div class="card" data-domain="${domain.replace(/\./g, '\\.')}">([\\s\\S]*?)</form></div>`,
    ).exec(html)?.[1] ?? '';
  type Listed = {
    domain: string;
    status: string;
    verifiedBy?: string;
    verification: { name: string; value: string };
  };
  const listed = async (): Promise<Listed[]> =>
    (await stack.call<{ items: Listed[] }>('GET', `/admin/tenants/${TENANT}/domains`)).body.items ?? [];

  it('adds a domain, shows its TXT record, verifies it through DNS and removes it', async () => {
    const admin = new Browser(sessions.admin);
    const page = await admin.get(domainsPath);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(
      /href="\/console\/console-co\/connections"[^>]*>Connections<\/a><\/li><li><a href="\/console\/console-co\/domains" aria-current="page">Domains</,
    );

    const added = await admin.submit(domainsPath, { action: 'add', domain: 'Mail.Console-Co.Example' });
    expect(added.status, added.text.slice(0, 300)).toBe(303);
    expect(added.location).toBe(`${domainsPath}?done=domain-added`);
    const shown = await admin.get(added.location ?? '');
    expect(shown.text).toContain('Domain added');
    const card = cardOf(shown.text, 'mail.console-co.example');
    expect(card).toContain('data-status="pending"');
    const view = (await listed()).find((d) => d.domain === 'mail.console-co.example');
    expect(view?.verification.name).toBe('_sso-verification.mail.console-co.example');
    expect(card).toContain(`value="${view?.verification.name}" readonly`);
    expect(card).toContain(`value="${view?.verification.value}" readonly`);
    expect(card).toContain('data-copy=');

    // Not in DNS yet: the service's refusal on the page, nothing verified.
    const early = await admin.submit(domainsPath, { action: 'verify', domain: 'mail.console-co.example' });
    expect(early.status).toBe(409);
    expect(codeOf(early.text)).toBe('domain_verification_failed');
    expect(early.text).toContain('_sso-verification.mail.console-co.example');
    expect((await listed()).find((d) => d.domain === 'mail.console-co.example')?.status).toBe('pending');

    // A resolver that cannot answer: dns_unavailable on the page, nothing verified.
    process.env.DNS_SERVERS = await closedDnsAddress();
    configureRuntime({});
    try {
      const down = await admin.submit(domainsPath, { action: 'verify', domain: 'mail.console-co.example' });
      expect(down.status).toBe(503);
      expect(codeOf(down.text)).toBe('dns_unavailable');
      expect(down.text).toContain('data-domain="mail.console-co.example"');
    } finally {
      process.env.DNS_SERVERS = dns.address;
      configureRuntime({});
    }
    expect((await listed()).find((d) => d.domain === 'mail.console-co.example')?.status).toBe('pending');

    dns.setTxt(view?.verification.name ?? '', view?.verification.value ?? '');
    const verified = await admin.submit(domainsPath, { action: 'verify', domain: 'mail.console-co.example' });
    expect(verified.status, verified.text.slice(0, 300)).toBe(303);
    expect(verified.location).toBe(`${domainsPath}?done=domain-verified`);
    const after = await admin.get(verified.location ?? '');
    const verifiedCard = cardOf(after.text, 'mail.console-co.example');
    expect(verifiedCard).toContain('data-status="verified"');
    expect(verifiedCard).toContain('by DNS');
    expect(verifiedCard).not.toContain('_sso-verification');
    expect(verifiedCard).not.toContain('Verify now');
    const stored = (await listed()).find((d) => d.domain === 'mail.console-co.example');
    expect(stored).toMatchObject({ status: 'verified', verifiedBy: 'dns' });

    // Remove: the box must be ticked.
    const unconfirmed = await admin.submit(domainsPath, {
      action: 'remove',
      domain: 'mail.console-co.example',
    });
    expect(unconfirmed.status).toBe(400);
    expect(codeOf(unconfirmed.text)).toBe('invalid_request');
    expect((await listed()).some((d) => d.domain === 'mail.console-co.example')).toBe(true);
    const removed = await admin.submit(domainsPath, {
      action: 'remove',
      domain: 'mail.console-co.example',
      confirm: 'on',
    });
    expect(removed.status).toBe(303);
    expect(removed.location).toBe(`${domainsPath}?done=domain-removed`);
    expect((await listed()).some((d) => d.domain === 'mail.console-co.example')).toBe(false);
  });

  it('shows an operator-verified domain as verified, and a refused add with its code', async () => {
    const add = await stack.call('POST', `/admin/tenants/${TENANT}/domains`, {
      body: { domain: 'ops.console-co.example' },
    });
    expect(add.status).toBe(201);
    const ok = await stack.call('POST', `/admin/tenants/${TENANT}/domains/ops.console-co.example/verify`, {
      body: { method: 'operator' },
    });
    expect(ok.status).toBe(200);
    const owner = new Browser(sessions.owner);
    const card = cardOf((await owner.get(domainsPath)).text, 'ops.console-co.example');
    expect(card).toContain('data-status="verified"');
    expect(card).toContain('by the operator');

    const bad = await owner.submit(domainsPath, { action: 'add', domain: 'localhost' });
    expect(bad.status).toBe(400);
    expect(codeOf(bad.text)).toBe('invalid_request');
    expect(bad.text).toContain('value="localhost"');
  });

  it('an auditor sees the page with disabled controls and gets 403 on every post (a member: see “getting in”)', async () => {
    const before = await listed();
    const auditor = new Browser(sessions.auditor);
    const page = await auditor.get(domainsPath);
    expect(page.status).toBe(200);
    expect(page.text).toContain('ops.console-co.example');
    expect(page.text).toMatch(/<fieldset[^>]* disabled>/);
    expect(page.text).toMatch(/data-remove="ops\.console-co\.example" disabled/);
    const posts: Record<string, string>[] = [
      { action: 'add', domain: 'auditor.console-co.example' },
      { action: 'remove', domain: 'ops.console-co.example', confirm: 'on' },
      { action: 'verify', domain: 'ops.console-co.example' },
    ];
    for (const fields of posts) {
      const res = await auditor.submit(domainsPath, fields);
      expect(res.status).toBe(403);
      expect(codeOf(res.text)).toBe('forbidden');
    }
    expect(await listed()).toEqual(before);
  });

  it('checks CSRF and Origin before anything is added', async () => {
    const admin = new Browser(sessions.admin);
    const page = await admin.get(domainsPath);
    const noCsrf = await admin.send('POST', domainsPath, {
      form: { csrf: 'wrong', action: 'add', domain: 'csrf.console-co.example' },
      headers: { origin: stack.url },
    });
    expect(noCsrf.status).toBe(403);
    const otherOrigin = await admin.send('POST', domainsPath, {
      form: { csrf: csrfOf(page.text), action: 'add', domain: 'csrf.console-co.example' },
      headers: { origin: 'https://evil.example' },
    });
    expect(otherOrigin.status).toBe(403);
    expect((await listed()).some((d) => d.domain === 'csrf.console-co.example')).toBe(false);
  });
});
