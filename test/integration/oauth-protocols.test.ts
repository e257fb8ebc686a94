import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Agent,
  type AuthorizeStart,
  authorizeUrl,
  formOf,
  opRequest,
  type Page,
  redeem,
  relyingParty,
  submitLoginForm,
} from '../helpers/oauth.ts';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.ts';
import { authnRequestId, type SamlFixture, samlFixture, signed } from '../helpers/saml.ts';
import { BASE_DN, type Slapd, searchLdap, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * An application of the OpenID Provider (openid-client, confidential, a redirect URI on the
 * loopback that need not answer: the browser stops there and hands the URL to the application)
 * signs people in through every way the service signs them in: the hosted page's password form,
 * SAML (SP- and IdP-initiated, the latter through the tenant's default application), OpenID
 * Connect and LDAP. Then the authorization request's own parameters (prompt, max_age, login_hint,
 * organization, none of them), the client kinds and authentication methods, and the token
 * endpoint's life cycle: refresh with rotation, userinfo, introspection, revocation.
 */

let stack: TestStack;
let op: TestProvider;
let slapd: Slapd;
let saml: SamlFixture;

const PW = 'oauth-pw';
const PW2 = 'oauth-pw2';
const SAML_T = 'oauth-saml';
const OIDC_T = 'oauth-oidc';
const LDAP_T = 'oauth-ldap';
const PASSWORD = 'a long enough password 1';
const ADA = 'ada@pw.oauth.test';
const TWIN = 'twin@pw.oauth.test';
const REDIRECT = 'http://127.0.0.1:9/callback';
// Never requested: the browser stops there. (An http loopback one has a test of its own below.)
const INITIATE = 'https://portal.oauth.test/initiate';
const OIDC_SECRET = 'a-client-secret-for-tests-0123456789';

let app: { clientId: string; clientSecret: string };
let config: client.Configuration;
let oidcConnection = '';
let ldapConnection = '';
const groupOf: Record<string, { id: string; name: string }> = {};

async function created<T = { id: string }>(path: string, body: unknown): Promise<T> {
  const res = await stack.call<T>('POST', path, { body });
  expect(res.status, `${path}: ${res.text}`).toBe(201);
  return res.body;
}

/** An application group fed by one external role (an IdP group) of a connection. */
async function mapGroup(tenantId: string, connectionId: string, externalId: string, name: string) {
  const group = await created(`/admin/tenants/${tenantId}/groups`, { name });
  const xrole = await created(`/admin/tenants/${tenantId}/external-roles`, {
    connectionId,
    externalId,
    name,
  });
  const mapped = await stack.call(
    'PUT',
    `/admin/tenants/${tenantId}/groups/${group.id}/external-roles/${xrole.id}`,
    {
      body: { accessLevel: 'member' },
    },
  );
  expect(mapped.status, mapped.text).toBe(200);
  groupOf[tenantId] = { id: group.id, name };
}

beforeAll(async () => {
  [stack, op, slapd] = await Promise.all([
    startTestStack(),
    startOidcProvider({
      accounts: {
        olive: {
          email: 'olive@oidc.oauth.test',
          email_verified: true,
          given_name: 'Olive',
          groups: ['engineering'],
        },
      },
    }),
    startSlapd(),
  ]);
  app = await created('/admin/applications', {
    name: 'Portal',
    type: 'confidential',
    redirectUris: [REDIRECT],
    initiateLoginUri: INITIATE,
  });
  config = await relyingParty(stack.url, app.clientId, app.clientSecret);

  // Password tenants: Ada in one, Twin in two.
  for (const id of [PW, PW2]) await created('/admin/tenants', { id, name: `Org ${id}` });
  await created(`/admin/tenants/${PW}/users`, {
    email: ADA,
    role: 'admin',
    password: PASSWORD,
    firstName: 'Ada',
  });
  for (const id of [PW, PW2])
    await created(`/admin/tenants/${id}/users`, { email: TWIN, role: 'member', password: PASSWORD });

  // SAML: the test IdP's groups attribute g-eng is mapped; the portal is the default application.
  saml = await samlFixture(stack, SAML_T);
  await mapGroup(SAML_T, saml.connectionId, 'g-eng', 'SAML Engineers');
  const patched = await stack.call('PATCH', `/admin/tenants/${SAML_T}`, {
    body: { settings: { defaultApplication: app.clientId } },
  });
  expect(patched.status, patched.text).toBe(200);

  // OIDC: the real oidc-provider IdP; its groups claim value `engineering` is mapped.
  await created('/admin/tenants', { id: OIDC_T, name: 'OIDC Org' });
  const clientId = `client-${randomUUID()}`;
  oidcConnection = (
    await created(`/admin/tenants/${OIDC_T}/connections`, {
      type: 'oidc',
      name: 'Test OP',
      oidc: {
        issuer: op.issuer,
        clientId,
        clientSecret: OIDC_SECRET,
        scopes: ['profile', 'groups'],
        groupsClaim: 'groups',
      },
      provisioning: { mode: 'jit' },
    })
  ).id;
  op.register({
    client_id: clientId,
    client_secret: OIDC_SECRET,
    redirect_uris: [`${stack.url}/oidc/${oidcConnection}/callback`],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  await mapGroup(OIDC_T, oidcConnection, 'engineering', 'OIDC Engineers');

  // LDAP: slapd; the directory group `admins` (by entryUUID) is mapped.
  await created('/admin/tenants', { id: LDAP_T, name: 'LDAP Org' });
  ldapConnection = (
    await created(`/admin/tenants/${LDAP_T}/connections`, {
      type: 'ldap',
      name: 'Directory',
      ldap: searchLdap(slapd, { groupSearch: { baseDn: `ou=groups,${BASE_DN}` } }),
      provisioning: { mode: 'jit', verifiedDomains: ['example.test'] },
    })
  ).id;
  await created(`/admin/tenants/${LDAP_T}/domains`, { domain: 'example.test' });
  const verified = await stack.call('POST', `/admin/tenants/${LDAP_T}/domains/example.test/verify`, {
    body: { method: 'operator' },
  });
  expect(verified.status, verified.text).toBe(200);
  const adminsUuid = await slapd.admin(async (ldap) => {
    const { searchEntries } = await ldap.search(`cn=admins,ou=groups,${BASE_DN}`, {
      scope: 'base',
      attributes: ['entryUUID'],
    });
    return String(searchEntries[0]?.entryUUID);
  });
  await mapGroup(LDAP_T, ldapConnection, adminsUuid, 'Directory Admins');
});
afterAll(async () => {
  await Promise.all([stack?.close(), op?.close(), slapd?.stop()]);
});

const toApp = (url: URL) => url.href.startsWith(REDIRECT);
const pathOf = (page: Page) => new URL(page.url).pathname;

/** Follows the browser until the application's redirect URI (not requested) or a page that stays. */
const untilApp = (agent: Agent, from: string | Page) => agent.follow(from, toApp);

/** The application's side: the code exchanged with state, nonce and PKCE checked by openid-client. */
async function tokensAt(start: AuthorizeStart, callback: string | undefined, rp = config) {
  expect(callback, 'the browser never reached the application').toBeDefined();
  return redeem(rp, start, callback as string);
}

interface Expected {
  org: string;
  role: string;
  email: string;
  amr: string;
  group?: string;
}

/** The ID token claims every application reads, whatever the protocol the person signed in with. */
function expectIdentity(claims: client.IDToken | undefined, expected: Expected) {
  expect(claims).toMatchObject({
    org_id: expected.org,
    role: expected.role,
    email: expected.email,
    aud: app.clientId,
  });
  expect(claims?.iss).toBe(stack.url);
  expect(claims?.sid).toEqual(expect.any(String));
  expect(claims?.auth_time).toEqual(expect.any(Number));
  expect(Array.isArray(claims?.groups)).toBe(true);
  if (expected.group) {
    expect(claims?.groups).toContainEqual({
      id: groupOf[expected.org]?.id,
      name: expected.group,
      accessLevel: 'member',
    });
  }
  // How the person signed in (OIDC Core 2): the interaction hands it over as the login's amr.
  expect.soft(claims?.amr, 'amr of the ID token').toEqual([expected.amr]);
}

/** Authorize, the hosted page's form, back to the application: the tokens. */
async function passwordLogin(
  agent: Agent,
  extra: Record<string, string>,
  tenantId: string,
  email: string,
  rp = config,
) {
  const start = await authorizeUrl(rp, REDIRECT, extra);
  const first = await untilApp(agent, start.url.href);
  expect(first.stoppedAt, 'a code without signing in').toBeUndefined();
  expect(pathOf(first.last), describePage(first.last)).toBe(`/t/${tenantId}/login`);
  const posted = await submitLoginForm(agent, first.last, email, PASSWORD);
  expect(posted.status, posted.text).toBe(303);
  const back = await untilApp(agent, posted);
  return { start, tokens: await tokensAt(start, back.stoppedAt, rp), back };
}

/** A browser already holding a sign-in session (a JSON password login's token as the cookie). */
async function signedInAgent(tenantId: string, email: string): Promise<Agent> {
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    body: { tenantId, email, password: PASSWORD },
    token: null,
  });
  expect(login.status, login.text).toBe(200);
  const agent = new Agent();
  agent.setCookie(stack.url, 'sso_session', login.body.token);
  return agent;
}

/** What a page that was not expected says, for the failure message. */
const describePage = (page: Page) =>
  `${page.status} ${page.url}: ${/id="error-code">([^<]*)</.exec(page.text)?.[1] ?? ''} ${/<p>([^<]*)<\/p>/.exec(page.text)?.[1] ?? page.text.slice(0, 200)}`;

const onlyOauthPages = (pages: Page[]) =>
  pages.every((p) => new URL(p.url).origin === stack.url && pathOf(p).startsWith('/oauth/'));

describe('signing in through every protocol', () => {
  it('password: the hosted page form (with its CSRF field) back to the application', async () => {
    const agent = new Agent();
    const { tokens } = await passwordLogin(agent, { organization: PW }, PW, ADA);
    expectIdentity(tokens.claims(), { org: PW, role: 'admin', email: ADA, amr: 'password' });
    expect(tokens.claims()?.groups).toEqual([]);
    expect(tokens.claims()?.given_name).toBe('Ada');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBeLessThanOrEqual(900);
  });

  it('SAML, SP-initiated: authorize with organization and connection → AuthnRequest → signed response → code', async () => {
    const agent = new Agent();
    const email = `sp-${randomUUID()}@saml.test`;
    const start = await authorizeUrl(config, REDIRECT, {
      organization: SAML_T,
      connection: saml.connectionId,
    });
    const toIdp = await agent.follow(start.url.href, (url) => url.host === 'idp.saml.test');
    expect(toIdp.stoppedAt, toIdp.last.text.slice(0, 300)).toBeDefined();
    expect(toIdp.pages.map(pathOf)).toContain(`/saml/${saml.connectionId}/login`);
    const idpUrl = new URL(toIdp.stoppedAt as string);
    const relayState = idpUrl.searchParams.get('RelayState') ?? '';
    expect(relayState).toMatch(new RegExp(`^${stack.url}/oauth/interaction/`));
    const xml = signed(saml, { nameId: email, inResponseTo: authnRequestId(idpUrl.href) });
    const acs = await agent.request('POST', saml.acsUrl, {
      form: { SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState },
    });
    expect(acs.status, acs.text).toBe(303);
    expect(acs.location).toBe(relayState);
    const back = await untilApp(agent, acs);
    const tokens = await tokensAt(start, back.stoppedAt);
    expectIdentity(tokens.claims(), {
      org: SAML_T,
      role: 'member',
      email,
      amr: 'saml',
      group: 'SAML Engineers',
    });
  });

  it('SAML, IdP-initiated: the default application’s initiateLoginUri, then authorize with login_hint gives a code without a page', async () => {
    const agent = new Agent();
    const email = `idp-${randomUUID()}@saml.test`;
    const acs = await agent.request('POST', saml.acsUrl, {
      form: { SAMLResponse: Buffer.from(signed(saml, { nameId: email })).toString('base64') },
    });
    expect(acs.status, acs.text).toBe(303);
    const landing = new URL(acs.location ?? '');
    expect(`${landing.origin}${landing.pathname}`).toBe(INITIATE);
    expect(landing.searchParams.get('iss')).toBe(stack.url);
    expect(landing.searchParams.get('login_hint')).toBe(email);
    expect(landing.searchParams.get('target_link_uri')).toBe('https://app.saml.test/home');

    // The application, told who and where, starts the login at the issuer it was told of.
    const issuer = landing.searchParams.get('iss') ?? '';
    const rp = await relyingParty(issuer, app.clientId, app.clientSecret);
    const start = await authorizeUrl(rp, REDIRECT, {
      login_hint: landing.searchParams.get('login_hint') ?? '',
    });
    const walk = await untilApp(agent, start.url.href);
    expect(walk.stoppedAt, walk.last.text.slice(0, 300)).toBeDefined();
    expect(onlyOauthPages(walk.pages)).toBe(true);
    const tokens = await tokensAt(start, walk.stoppedAt, rp);
    expectIdentity(tokens.claims(), {
      org: SAML_T,
      role: 'member',
      email,
      amr: 'saml',
      group: 'SAML Engineers',
    });
  });

  it('OIDC: authorize with the connection → the upstream oidc-provider → our callback → code', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT, { organization: OIDC_T, connection: oidcConnection });
    const walk = await untilApp(agent, start.url.href);
    expect(walk.stoppedAt, walk.last.text.slice(0, 300)).toBeDefined();
    expect(walk.pages.some((p) => p.url.startsWith(op.issuer))).toBe(true);
    expect(walk.pages.map(pathOf)).toContain(`/oidc/${oidcConnection}/callback`);
    const tokens = await tokensAt(start, walk.stoppedAt);
    expectIdentity(tokens.claims(), {
      org: OIDC_T,
      role: 'member',
      email: 'olive@oidc.oauth.test',
      amr: 'oidc',
      group: 'OIDC Engineers',
    });
    // The tenant's own IdP asserts the address; its domain is not verified for the tenant.
    expect(tokens.claims()?.email_verified).toBe(false);
  });

  it('OIDC: through the hosted page’s link for the connection as well', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT, { organization: OIDC_T });
    const first = await untilApp(agent, start.url.href);
    expect(pathOf(first.last)).toBe(`/t/${OIDC_T}/login`);
    const href = /<a class="sso" data-connection="[^"]*" href="([^"]*)"/
      .exec(first.last.text)?.[1]
      ?.replaceAll('&amp;', '&');
    expect(href).toContain(`/oidc/${oidcConnection}/login?redirect=`);
    const walk = await untilApp(agent, href as string);
    const tokens = await tokensAt(start, walk.stoppedAt);
    expectIdentity(tokens.claims(), {
      org: OIDC_T,
      role: 'member',
      email: 'olive@oidc.oauth.test',
      amr: 'oidc',
      group: 'OIDC Engineers',
    });
  });

  it('LDAP: the hosted page’s directory form → code; directory groups mapped', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT, { organization: LDAP_T });
    const first = await untilApp(agent, start.url.href);
    expect(pathOf(first.last)).toBe(`/t/${LDAP_T}/login`);
    expect(formOf(first.last.text, 'password-form').action).toBe(`${stack.url}/ldap/${ldapConnection}/login`);
    const posted = await submitLoginForm(agent, first.last, 'alice@example.test', 'alice-Pa55!');
    expect(posted.status, posted.text).toBe(303);
    const back = await untilApp(agent, posted);
    const tokens = await tokensAt(start, back.stoppedAt);
    expectIdentity(tokens.claims(), {
      org: LDAP_T,
      role: 'member',
      email: 'alice@example.test',
      amr: 'ldap',
      group: 'Directory Admins',
    });
  });
});

describe('the authorization request', () => {
  it('prompt=login with a session: signs in again, and the new auth_time is later', async () => {
    const agent = new Agent();
    const first = await passwordLogin(agent, { organization: PW }, PW, ADA);
    const before = first.tokens.claims()?.auth_time as number;
    // Without prompt=login the session is enough.
    const again = await authorizeUrl(config, REDIRECT, { organization: PW });
    const quiet = await untilApp(agent, again.url.href);
    expect((await tokensAt(again, quiet.stoppedAt)).claims()?.auth_time).toBe(before);
    await sleep(1100); // auth_time counts seconds
    const second = await passwordLogin(agent, { organization: PW, prompt: 'login' }, PW, ADA);
    expect(second.tokens.claims()?.auth_time).toBeGreaterThan(before);
  });

  it('max_age=0 with a session: signs in again', async () => {
    const agent = new Agent();
    const first = await passwordLogin(agent, { organization: PW }, PW, ADA);
    const before = first.tokens.claims()?.auth_time as number;
    await sleep(1100);
    const second = await passwordLogin(agent, { organization: PW, max_age: '0' }, PW, ADA);
    expect(second.tokens.claims()?.auth_time).toBeGreaterThan(before);
  });

  it('login_hint without organization finds the tenant', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT, { login_hint: ADA });
    const first = await untilApp(agent, start.url.href);
    expect(pathOf(first.last)).toBe(`/t/${PW}/login`);
    expect(new URL(first.last.url).searchParams.get('login_hint')).toBe(ADA);
    const posted = await submitLoginForm(agent, first.last, ADA, PASSWORD);
    const back = await untilApp(agent, posted);
    expect((await tokensAt(start, back.stoppedAt)).claims()?.org_id).toBe(PW);
  });

  it('neither organization nor login_hint: "find your workspace", whose email leads to the tenant’s login', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT);
    const first = await untilApp(agent, start.url.href);
    expect(first.last.status).toBe(200);
    expect(pathOf(first.last)).toMatch(/^\/oauth\/interaction\//);
    const form = formOf(first.last.text, 'workspace-form');
    expect(form.action).toBe(first.last.url);
    const unknown = await agent.request('POST', form.action, { form: { email: 'nobody@nowhere.test' } });
    expect(unknown.status).toBe(200);
    expect(unknown.text).toContain('id="workspace-message"');
    const found = await agent.request('POST', form.action, { form: { email: ADA } });
    expect(found.status).toBe(303);
    expect(found.location).toMatch(new RegExp(`^${stack.url}/t/${PW}/login\\?redirect=`));
    const page = await agent.get(found.location as string);
    const posted = await submitLoginForm(agent, page, ADA, PASSWORD);
    const back = await untilApp(agent, posted);
    expect((await tokensAt(start, back.stoppedAt)).claims()?.org_id).toBe(PW);
  });

  it('a person in two tenants chooses one, and gets a code for it', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT, { login_hint: TWIN });
    const first = await untilApp(agent, start.url.href);
    expect(first.last.status).toBe(200);
    const choices = [...first.last.text.matchAll(/<a class="sso" data-tenant="([^"]*)" href="([^"]*)"/g)].map(
      (m) => ({
        tenant: m[1] ?? '',
        href: (m[2] ?? '').replaceAll('&amp;', '&'),
      }),
    );
    expect(choices.map((c) => c.tenant).sort()).toEqual([PW, PW2].sort());
    const chosen = choices.find((c) => c.tenant === PW2);
    const page = await agent.get(chosen?.href ?? '');
    expect(pathOf(page)).toBe(`/t/${PW2}/login`);
    const posted = await submitLoginForm(agent, page, TWIN, PASSWORD);
    const back = await untilApp(agent, posted);
    expectIdentity((await tokensAt(start, back.stoppedAt)).claims(), {
      org: PW2,
      role: 'member',
      email: TWIN,
      amr: 'password',
    });
    // "find your workspace" with that email: the same choice.
    const other = new Agent();
    const s2 = await authorizeUrl(config, REDIRECT);
    const w2 = await untilApp(other, s2.url.href);
    const choice = await other.request('POST', formOf(w2.last.text, 'workspace-form').action, {
      form: { email: TWIN },
    });
    expect(choice.status).toBe(200);
    expect([...choice.text.matchAll(/data-tenant="([^"]*)"/g)].map((m) => m[1]).sort()).toEqual(
      [PW, PW2].sort(),
    );
  });

  it('prompt=none with a session: a code at once', async () => {
    const agent = new Agent();
    await passwordLogin(agent, { organization: PW }, PW, ADA);
    const start = await authorizeUrl(config, REDIRECT, { organization: PW, prompt: 'none' });
    const walk = await untilApp(agent, start.url.href);
    expect(walk.pages).toHaveLength(1);
    expect((await tokensAt(start, walk.stoppedAt)).claims()?.org_id).toBe(PW);
  });

  it('prompt=none with a sign-in session made outside the OP (hosted page, SAML, …): a code at once', async () => {
    // The person is signed in (sso_session) but has not been through /oauth/authorize yet.
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(config, REDIRECT, { organization: PW, prompt: 'none' });
    const walk = await untilApp(agent, start.url.href);
    const back = new URL(walk.stoppedAt ?? '');
    expect(back.searchParams.get('error'), back.href).toBeNull();
    expect((await tokensAt(start, walk.stoppedAt)).claims()?.org_id).toBe(PW);
  });

  it('prompt=none without a session: login_required at the redirect URI', async () => {
    const agent = new Agent();
    const start = await authorizeUrl(config, REDIRECT, { organization: PW, prompt: 'none' });
    const walk = await untilApp(agent, start.url.href);
    const back = new URL(walk.stoppedAt ?? '');
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.get('state')).toBe(start.state);
    expect(back.searchParams.get('iss')).toBe(stack.url);
    expect(back.searchParams.has('code')).toBe(false);
    await expect(redeem(config, start, back.href)).rejects.toMatchObject({ error: 'login_required' });
  });
});

describe('clients and tokens', () => {
  it('a public client: PKCE and no client authentication', async () => {
    const pub = await created<{ clientId: string }>('/admin/applications', {
      name: 'CLI',
      type: 'public',
      redirectUris: [REDIRECT],
    });
    const rp = await relyingParty(stack.url, pub.clientId, undefined);
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(rp, REDIRECT, { organization: PW });
    const walk = await untilApp(agent, start.url.href);
    const tokens = await tokensAt(start, walk.stoppedAt, rp);
    expect(tokens.claims()).toMatchObject({ aud: pub.clientId, org_id: PW, role: 'admin', email: ADA });
  });

  it('an application whose initiateLoginUri is on the loopback over http (the admin API accepts it) signs people in', async () => {
    const local = await created<{ clientId: string; clientSecret: string }>('/admin/applications', {
      name: 'Local portal',
      type: 'confidential',
      redirectUris: [REDIRECT],
      initiateLoginUri: 'http://127.0.0.1:9/initiate',
    });
    const rp = await relyingParty(stack.url, local.clientId, local.clientSecret);
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(rp, REDIRECT, { organization: PW });
    const walk = await untilApp(agent, start.url.href);
    expect(walk.stoppedAt, describePage(walk.last)).toBeDefined();
    expect((await tokensAt(start, walk.stoppedAt, rp)).claims()?.org_id).toBe(PW);
  });

  it('client_secret_post for a confidential client', async () => {
    const rp = await relyingParty(stack.url, app.clientId, app.clientSecret, 'client_secret_post');
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(rp, REDIRECT, { organization: PW });
    const walk = await untilApp(agent, start.url.href);
    const tokens = await tokensAt(start, walk.stoppedAt, rp);
    expect(tokens.claims()).toMatchObject({ org_id: PW, email: ADA });
  });

  it('offline_access with prompt=consent: a refresh token, which rotates; the spent one is refused', async () => {
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(config, REDIRECT, {
      organization: PW,
      scope: 'openid email profile offline_access',
      prompt: 'consent',
    });
    const walk = await untilApp(agent, start.url.href);
    const tokens = await tokensAt(start, walk.stoppedAt);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.scope?.split(' ')).toContain('offline_access');

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.claims()).toMatchObject({
      org_id: PW,
      role: 'admin',
      email: ADA,
      sub: tokens.claims()?.sub,
    });

    await expect(client.refreshTokenGrant(config, tokens.refresh_token as string)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('without offline_access (or without prompt=consent) no refresh token', async () => {
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(config, REDIRECT, { organization: PW, scope: 'openid offline_access' });
    const walk = await untilApp(agent, start.url.href);
    const tokens = await tokensAt(start, walk.stoppedAt);
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('userinfo, introspection by the owning client, and revocation', async () => {
    const agent = await signedInAgent(PW, ADA);
    const start = await authorizeUrl(config, REDIRECT, { organization: PW });
    const walk = await untilApp(agent, start.url.href);
    const tokens = await tokensAt(start, walk.stoppedAt);
    const sub = tokens.claims()?.sub as string;

    const info = await client.fetchUserInfo(config, tokens.access_token, sub);
    expect(info).toMatchObject({ sub, org_id: PW, role: 'admin', groups: [], email: ADA, given_name: 'Ada' });

    const introspected = await client.tokenIntrospection(config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, client_id: app.clientId, sub });
    // Another application learns nothing about it.
    const other = await created<{ clientId: string; clientSecret: string }>('/admin/applications', {
      name: 'Other',
      type: 'confidential',
      redirectUris: [REDIRECT],
    });
    const otherRp = await relyingParty(stack.url, other.clientId, other.clientSecret);
    expect((await client.tokenIntrospection(otherRp, tokens.access_token)).active).toBe(false);

    await client.tokenRevocation(config, tokens.access_token);
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    const after = await opRequest(`${stack.url}/oauth/userinfo`, { bearer: tokens.access_token });
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('invalid_token');
  });
});
