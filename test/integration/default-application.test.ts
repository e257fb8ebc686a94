import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startOidcProvider, type TestProvider } from '../helpers/oidc-provider.ts';
import { authnRequestId, postAcs, type SamlFixture, samlFixture, signed } from '../helpers/saml.ts';
import { BASE_DN, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Where a login lands (shared/identity/respond.ts): an OAuth interaction URL of this service
 * whatever the tenant allows; else the tenant's default application through its initiateLoginUri
 * with iss, login_hint and target_link_uri (OIDC Core §4); else an allowed requested URL, appUrl,
 * the login page. Every sign-in method of the hosted page carries its `redirect` to the end. The
 * tenant setting `defaultApplication` is checked when set and falls back to appUrl when the
 * application stops fitting.
 */

let stack: TestStack;
let op: TestProvider;
let slapd: Slapd;
let f: SamlFixture;

const T = 'landing-co';
const APP_URL = 'https://app.saml.test/home';
const DEEP = 'https://app.saml.test/deep/report';
const INITIATE = 'https://portal.landing.test/sso/initiate?from=sso';
const PASSWORD = 'a long enough password 1';
const SECRET = 'a-client-secret-for-tests-0123456789';

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface TenantView {
  version: number;
  settings: Record<string, unknown>;
}

let appId = '';
let oidcConnection = '';
let n = 0;
const unique = (prefix = 'u') => `${prefix}${++n}-${Date.now()}@saml.test`;
const interaction = (uid = 'Ab3_x-Yz9') => `${stack.url}/oauth/interaction/${uid}`;

async function newApplication(over: Record<string, unknown> = {}): Promise<string> {
  const res = await stack.call<{ clientId: string }>('POST', '/admin/applications', {
    body: {
      name: 'Portal',
      type: 'public',
      redirectUris: ['https://portal.landing.test/callback'],
      initiateLoginUri: INITIATE,
      ...over,
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.clientId;
}

async function patchSettings(tenantId: string, settings: Record<string, unknown>) {
  return stack.call<TenantView & ErrorBody>('PATCH', `/admin/tenants/${tenantId}`, { body: { settings } });
}

async function addUser(tenantId: string, email: string) {
  const res = await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
    body: { email, role: 'member', password: PASSWORD },
  });
  expect(res.status, res.text).toBe(201);
}

/** A browser's password login (JSON body, HTML accepted): the Location of its 303. */
async function passwordLanding(tenantId: string, email: string, redirectTo?: string): Promise<string> {
  const res = await fetch(`${stack.url}/login/password`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/json', accept: 'text/html' },
    body: JSON.stringify({ tenantId, email, password: PASSWORD, ...(redirectTo ? { redirectTo } : {}) }),
  });
  expect(res.status, await res.clone().text()).toBe(303);
  return res.headers.get('location') ?? '';
}

/** The three parameters of a third-party-initiated login, and the rest of the URL. */
function initiated(location: string) {
  const url = new URL(location);
  const params = url.searchParams;
  return {
    base: `${url.origin}${url.pathname}`,
    from: params.get('from'),
    iss: params.get('iss'),
    loginHint: params.get('login_hint'),
    target: params.get('target_link_uri'),
    names: [...params.keys()],
  };
}

const unescapeHtml = (text: string) =>
  text
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');

/** The hosted login page for `redirect`: its SSO links, its form and the CSRF cookie it set. */
async function hostedPage(tenantId: string, redirect?: string) {
  const res = await fetch(
    `${stack.url}/t/${tenantId}/login${redirect ? `?redirect=${encodeURIComponent(redirect)}` : ''}`,
    { headers: { accept: 'text/html' } },
  );
  expect(res.status).toBe(200);
  const html = await res.text();
  const csrf = res.headers
    .getSetCookie()
    .find((c) => c.startsWith('sso_csrf='))
    ?.split(';')[0];
  const links = [...html.matchAll(/<a class="sso" data-connection="([^"]*)" href="([^"]*)"/g)].map((m) => ({
    connectionId: m[1] ?? '',
    href: unescapeHtml(m[2] ?? ''),
  }));
  const action = unescapeHtml(
    /<form method="post" action="([^"]*)" id="password-form">/.exec(html)?.[1] ?? '',
  );
  const hidden = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [
      m[1] ?? '',
      unescapeHtml(m[2] ?? ''),
    ]),
  );
  return { links, action, hidden, csrf: csrf ?? '' };
}

/** Submits the hosted page's email and password form as a browser would: the Location of its 303. */
async function submitForm(page: Awaited<ReturnType<typeof hostedPage>>, email: string, password: string) {
  const res = await fetch(page.action, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'text/html',
      cookie: page.csrf,
    },
    body: new URLSearchParams({ ...page.hidden, email, password }).toString(),
  });
  expect(res.status, await res.clone().text()).toBe(303);
  return res.headers.get('location') ?? '';
}

beforeAll(async () => {
  [stack, op, slapd] = await Promise.all([
    startTestStack(),
    startOidcProvider({
      accounts: { alice: { email: 'alice@oidc.landing.test', email_verified: true } },
    }),
    startSlapd(),
  ]);
  // appUrl https://app.saml.test/home, allowedRedirectUrls https://app.saml.test/deep
  f = await samlFixture(stack, T);
  appId = await newApplication({ tenants: [T] });
  const set = await patchSettings(T, { defaultApplication: appId });
  expect(set.status, set.text).toBe(200);
  expect(set.body.settings.defaultApplication).toBe(appId);
  await addUser(T, 'pat@landing.test');

  const clientId = `client-${randomUUID()}`;
  const oidc = await stack.call<{ id: string }>('POST', `/admin/tenants/${T}/connections`, {
    body: {
      type: 'oidc',
      name: 'Test OP',
      oidc: { issuer: op.issuer, clientId, clientSecret: SECRET },
      provisioning: { mode: 'jit' },
    },
  });
  expect(oidc.status, oidc.text).toBe(201);
  oidcConnection = oidc.body.id;
  op.register({
    client_id: clientId,
    client_secret: SECRET,
    redirect_uris: [`${stack.url}/oidc/${oidcConnection}/callback`],
    token_endpoint_auth_method: 'client_secret_basic',
  });
});
afterAll(async () => {
  await Promise.all([stack?.close(), op?.close(), slapd?.stop()]);
});

/** Walks an OIDC login from `start` (our /oidc/{c}/login) through the provider; our callback's answer. */
async function oidcLanding(start: string) {
  const browser = new Browser();
  const callbackPath = `/oidc/${oidcConnection}/callback`;
  const { stoppedAt } = await browser.walk(start, (url) => url.pathname === callbackPath);
  const page = await browser.get(stoppedAt);
  expect(page.status, page.text).toBe(303);
  return page.location ?? '';
}

describe('landing in the default application', () => {
  it('an IdP-initiated SAML login: 303 to its initiateLoginUri with iss, login_hint and target_link_uri = appUrl', async () => {
    const email = unique('idp');
    const out = await postAcs(f, signed(f, { nameId: email }), { accept: 'text/html' });
    expect(out.status).toBe(303);
    const landing = initiated(out.location ?? '');
    expect(landing.base).toBe('https://portal.landing.test/sso/initiate');
    expect(landing.from).toBe('sso'); // the URI's own query is kept
    expect(landing.iss).toBe(stack.url);
    expect(landing.loginHint).toBe(email);
    expect(landing.target).toBe(APP_URL);
    expect(landing.names.sort()).toEqual(['from', 'iss', 'login_hint', 'target_link_uri']);
  });

  it('an allowed RelayState becomes target_link_uri; one not allowed does not', async () => {
    const allowed = await postAcs(f, signed(f, { nameId: unique('rs') }), {
      accept: 'text/html',
      relayState: DEEP,
    });
    expect(allowed.status).toBe(303);
    expect(initiated(allowed.location ?? '')).toMatchObject({
      base: 'https://portal.landing.test/sso/initiate',
      iss: stack.url,
      target: DEEP,
    });
    const hostile = await postAcs(f, signed(f, { nameId: unique('rs') }), {
      accept: 'text/html',
      relayState: 'https://evil.test/deep/report',
    });
    expect(initiated(hostile.location ?? '').target).toBe(APP_URL);
  });

  it('a password login on the hosted page: the same landing', async () => {
    const page = await hostedPage(T);
    expect(page.action).toBe(`${stack.url}/login/password`);
    expect(page.hidden).not.toHaveProperty('redirectTo');
    const location = await submitForm(page, 'pat@landing.test', PASSWORD);
    const landing = initiated(location);
    expect(landing.base).toBe('https://portal.landing.test/sso/initiate');
    expect(landing.iss).toBe(stack.url);
    expect(landing.loginHint).toBe('pat@landing.test');
    expect(landing.target).toBe(APP_URL);

    // the hosted page's redirect, allowed: the target
    const deep = await hostedPage(T, DEEP);
    expect(deep.hidden.redirectTo).toBe(DEEP);
    expect(initiated(await submitForm(deep, 'pat@landing.test', PASSWORD)).target).toBe(DEEP);
  });

  it('an OIDC login: the same landing', async () => {
    const location = await oidcLanding(`${stack.url}/oidc/${oidcConnection}/login`);
    const landing = initiated(location);
    expect(landing.base).toBe('https://portal.landing.test/sso/initiate');
    expect(landing.iss).toBe(stack.url);
    expect(landing.loginHint).toBe('alice@oidc.landing.test');
    expect(landing.target).toBe(APP_URL);

    const deep = await oidcLanding(
      `${stack.url}/oidc/${oidcConnection}/login?redirect=${encodeURIComponent(DEEP)}`,
    );
    expect(initiated(deep).target).toBe(DEEP);
  });

  it('a JSON client still gets 200 {session, token}', async () => {
    const res = await stack.call<{ token: string; session: { email: string } }>('POST', '/login/password', {
      body: { tenantId: T, email: 'pat@landing.test', password: PASSWORD },
      token: null,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.body.session.email).toBe('pat@landing.test');
    expect(res.body.token).toBeTruthy();
  });

  it('without appUrl, target_link_uri is left out', async () => {
    const tenantId = 'landing-bare';
    const created = await stack.call('POST', '/admin/tenants', {
      body: { id: tenantId, name: tenantId, settings: { defaultApplication: await newApplication() } },
    });
    expect(created.status, created.text).toBe(201);
    await addUser(tenantId, 'bare@landing.test');
    const landing = initiated(await passwordLanding(tenantId, 'bare@landing.test', DEEP));
    expect(landing).toMatchObject({ iss: stack.url, loginHint: 'bare@landing.test', target: null });
    expect(landing.names.sort()).toEqual(['from', 'iss', 'login_hint']);
  });
});

describe('an OAuth interaction URL as the requested landing', () => {
  it('is honoured from an IdP-initiated RelayState although allowedRedirectUrls does not list it', async () => {
    const out = await postAcs(f, signed(f, { nameId: unique('ix') }), {
      accept: 'text/html',
      relayState: interaction(),
    });
    expect(out.status).toBe(303);
    expect(out.location).toBe(interaction());
  });

  it('survives the hosted page through SAML SP-initiated login (RelayState and the stored request)', async () => {
    const uid = 'saml_SP-1';
    const page = await hostedPage(T, interaction(uid));
    const link = page.links.find((l) => l.href.startsWith(`${stack.url}/saml/`));
    expect(link?.href).toBe(
      `${stack.url}/saml/${f.connectionId}/login?redirect=${encodeURIComponent(interaction(uid))}`,
    );
    const start = await fetch(link?.href ?? '', { redirect: 'manual' });
    expect(start.status).toBe(302);
    const location = start.headers.get('location') ?? '';
    expect(new URL(location).searchParams.get('RelayState')).toBe(interaction(uid));
    const id = authnRequestId(location);
    // The IdP answers without RelayState: the stored request still knows where to go.
    const out = await postAcs(f, signed(f, { nameId: unique('sp'), inResponseTo: id }), {
      accept: 'text/html',
    });
    expect(out.status).toBe(303);
    expect(out.location).toBe(interaction(uid));
  });

  it('survives the hosted page through OIDC login (the stored state)', async () => {
    const uid = 'oidc-1';
    const page = await hostedPage(T, interaction(uid));
    const link = page.links.find((l) => l.connectionId === oidcConnection);
    expect(link?.href).toBe(
      `${stack.url}/oidc/${oidcConnection}/login?redirect=${encodeURIComponent(interaction(uid))}`,
    );
    expect(await oidcLanding(link?.href ?? '')).toBe(interaction(uid));
    // and as OIDC Core §4's target_link_uri
    expect(
      await oidcLanding(
        `${stack.url}/oidc/${oidcConnection}/login?target_link_uri=${encodeURIComponent(interaction('tl'))}`,
      ),
    ).toBe(interaction('tl'));
  });

  it('survives the hosted page through the password form', async () => {
    const page = await hostedPage(T, interaction('pw'));
    expect(page.hidden.redirectTo).toBe(interaction('pw'));
    expect(await submitForm(page, 'pat@landing.test', PASSWORD)).toBe(interaction('pw'));
  });

  it('survives the hosted page through the LDAP form', async () => {
    const tenantId = 'landing-ldap';
    const made = await stack.call('POST', '/admin/tenants', {
      body: { id: tenantId, name: tenantId, settings: { appUrl: APP_URL } },
    });
    expect(made.status, made.text).toBe(201);
    expect((await patchSettings(tenantId, { defaultApplication: await newApplication() })).status).toBe(200);
    const connection = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/connections`, {
      body: {
        type: 'ldap',
        name: 'Directory',
        ldap: {
          url: slapd.ldapsUrl,
          caPem: slapd.caPem,
          dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
        },
        provisioning: { mode: 'jit', verifiedDomains: ['example.test'] },
      },
    });
    expect(connection.status, connection.text).toBe(201);
    await stack.call('POST', `/admin/tenants/${tenantId}/domains`, { body: { domain: 'example.test' } });
    const verified = await stack.call('POST', `/admin/tenants/${tenantId}/domains/example.test/verify`, {
      body: { method: 'operator' },
    });
    expect(verified.status, verified.text).toBe(200);

    const page = await hostedPage(tenantId, interaction('ldap'));
    expect(page.action).toBe(`${stack.url}/ldap/${connection.body.id}/login`);
    expect(page.hidden.redirectTo).toBe(interaction('ldap'));
    expect(await submitForm(page, 'alice@example.test', 'alice-Pa55!')).toBe(interaction('ldap'));

    // without it: the default application
    const plain = await hostedPage(tenantId);
    expect(initiated(await submitForm(plain, 'alice@example.test', 'alice-Pa55!'))).toMatchObject({
      base: 'https://portal.landing.test/sso/initiate',
      loginHint: 'alice@example.test',
      target: APP_URL,
    });
  });

  it('refuses near misses: they land as any URL the tenant does not allow', async () => {
    const base = `${stack.url}/oauth/interaction`;
    const nearMisses = [
      `${base}/x/../../evil`,
      `${base}/x/y`,
      'https://evil.test/oauth/interaction/abc',
      `${stack.url.replace('localhost', '127.0.0.1')}/oauth/interaction/abc`,
      `${base}/abc?next=https://evil.test`,
      `${base}/abc#fragment`,
      `${base}/abc/`,
      `${base}/`,
      `${base}/${'a'.repeat(65)}`,
      `${base}/a%2Fb`,
      `${base}/a.b`,
      `${stack.url}/oauth/interactionx/abc`,
      `${stack.url}/oauth/Interaction/abc`,
      ` ${base}/abc`,
      `${base}/abc `,
    ];
    for (const candidate of nearMisses) {
      const landing = initiated(await passwordLanding(T, 'pat@landing.test', candidate));
      expect(landing.base, candidate).toBe('https://portal.landing.test/sso/initiate');
      expect(landing.target, candidate).toBe(APP_URL);
    }
    const relayed = await postAcs(f, signed(f, { nameId: unique('nm') }), {
      accept: 'text/html',
      relayState: `${base}/x/../../evil`,
    });
    expect(initiated(relayed.location ?? '').target).toBe(APP_URL);
    // the longest uid passes
    const longest = `${base}/${'a'.repeat(64)}`;
    expect(await passwordLanding(T, 'pat@landing.test', longest)).toBe(longest);
  });

  it('is honoured without a default application, whatever allowedRedirectUrls says', async () => {
    const tenantId = 'landing-plain';
    const made = await stack.call('POST', '/admin/tenants', {
      body: { id: tenantId, name: tenantId, settings: { appUrl: APP_URL, allowedRedirectUrls: [DEEP] } },
    });
    expect(made.status, made.text).toBe(201);
    await addUser(tenantId, 'plain@landing.test');
    expect(await passwordLanding(tenantId, 'plain@landing.test', interaction())).toBe(interaction());
    expect(await passwordLanding(tenantId, 'plain@landing.test', DEEP)).toBe(DEEP);
    expect(await passwordLanding(tenantId, 'plain@landing.test', `${interaction()}?x=1`)).toBe(APP_URL);
  });
});

describe('the defaultApplication setting', () => {
  const tenantItem = async (tenantId: string) =>
    (await stack.items()).find((i) => i.pk === `TENANT#${tenantId}` && i.sk === 'TENANT');

  it('refuses an application that does not exist, does not allow the tenant, or has no initiateLoginUri; nothing is written', async () => {
    const tenantId = 'landing-refusals';
    const made = await stack.call('POST', '/admin/tenants', {
      body: { id: tenantId, name: tenantId, settings: { appUrl: APP_URL } },
    });
    expect(made.status, made.text).toBe(201);
    const before = await tenantItem(tenantId);
    const cases: [string, string][] = [
      ['unknown application', randomUUID()],
      ['application not allowing the tenant', await newApplication({ tenants: [T] })],
      ['application without initiateLoginUri', await newApplication({ initiateLoginUri: undefined })],
    ];
    for (const [what, clientId] of cases) {
      const res = await patchSettings(tenantId, { defaultApplication: clientId, sessionTtlSeconds: 3600 });
      expect(res.status, what).toBe(400);
      expect(res.body.error.code, what).toBe('invalid_default_application');
      expect(res.body.error.details?.[0]?.path, what).toBe('settings.defaultApplication');
      const created = await stack.call<ErrorBody>('POST', '/admin/tenants', {
        body: { id: 'landing-never', name: 'Never', settings: { defaultApplication: clientId } },
      });
      expect(created.status, what).toBe(400);
      expect(created.body.error.code, what).toBe('invalid_default_application');
    }
    expect(await tenantItem(tenantId)).toEqual(before);
    expect(await tenantItem('landing-never')).toBeUndefined();
    expect((await stack.call('GET', '/admin/tenants/landing-never')).status).toBe(404);

    // Not a client id at all: a plain validation error, nothing read.
    for (const value of [appId.toUpperCase(), 'not-a-uuid', 42, ['x'], '']) {
      const res = await patchSettings(tenantId, { defaultApplication: value });
      expect(res.status, String(value)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect(await tenantItem(tenantId)).toEqual(before);
  });

  it('is set, kept across other changes, and removed with null', async () => {
    const tenantId = 'landing-settings';
    const all = await newApplication();
    const made = await stack.call<TenantView>('POST', '/admin/tenants', {
      body: { id: tenantId, name: tenantId, settings: { appUrl: APP_URL, defaultApplication: all } },
    });
    expect(made.status, made.text).toBe(201);
    expect(made.body.settings.defaultApplication).toBe(all);
    const other = await patchSettings(tenantId, { sessionTtlSeconds: 3600 });
    expect(other.body.settings).toMatchObject({ defaultApplication: all, sessionTtlSeconds: 3600 });
    const removed = await patchSettings(tenantId, { defaultApplication: null });
    expect(removed.status, removed.text).toBe(200);
    expect(removed.body.settings).not.toHaveProperty('defaultApplication');
    expect((await tenantItem(tenantId))?.settings).not.toHaveProperty('defaultApplication');
  });

  it('falls back to appUrl when the application is changed so it no longer fits, or deleted', async () => {
    const tenantId = 'landing-fallback';
    const made = await stack.call('POST', '/admin/tenants', {
      body: { id: tenantId, name: tenantId, settings: { appUrl: APP_URL, allowedRedirectUrls: [DEEP] } },
    });
    expect(made.status, made.text).toBe(201);
    await addUser(tenantId, 'fall@landing.test');
    const clientId = await newApplication({ tenants: [tenantId] });
    expect((await patchSettings(tenantId, { defaultApplication: clientId })).status).toBe(200);
    expect(initiated(await passwordLanding(tenantId, 'fall@landing.test')).base).toBe(
      'https://portal.landing.test/sso/initiate',
    );
    const path = `/admin/applications/${clientId}`;

    // no longer allowing the tenant
    expect((await stack.call('PATCH', path, { body: { tenants: [T] } })).status).toBe(200);
    expect(await passwordLanding(tenantId, 'fall@landing.test')).toBe(APP_URL);
    expect(await passwordLanding(tenantId, 'fall@landing.test', DEEP)).toBe(DEEP);
    // no initiateLoginUri
    expect(
      (await stack.call('PATCH', path, { body: { tenants: null, initiateLoginUri: null } })).status,
    ).toBe(200);
    expect(await passwordLanding(tenantId, 'fall@landing.test')).toBe(APP_URL);
    // fits again
    expect((await stack.call('PATCH', path, { body: { initiateLoginUri: INITIATE } })).status).toBe(200);
    expect(initiated(await passwordLanding(tenantId, 'fall@landing.test')).target).toBe(APP_URL);
    // deleted
    expect((await stack.call('DELETE', path)).status).toBe(204);
    expect(await passwordLanding(tenantId, 'fall@landing.test')).toBe(APP_URL);
    const saml = await postAcs(f, signed(f, { nameId: unique('gone') }), { accept: 'text/html' });
    expect(saml.status).toBe(303); // the SAML tenant's own application is untouched
    // A change of another setting does not trip over the stale one; setting it again does.
    const other = await patchSettings(tenantId, { sessionTtlSeconds: 7200 });
    expect(other.status, other.text).toBe(200);
    expect(other.body.settings.defaultApplication).toBe(clientId);
    const again = await patchSettings(tenantId, { defaultApplication: clientId });
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('invalid_default_application');
  });
});
