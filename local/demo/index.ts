import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { type DemoApp, registerDemoApp, startDemoApp } from './app.ts';
import {
  type Api,
  DEMO_GROUPS,
  DEMO_OWNER,
  DEMO_TENANT,
  DEMO_USERS,
  type DemoUser,
  esc,
  expectStatus,
  page,
  send,
} from './common.ts';
import { type DemoLdap, LDAP_PASSWORD, startDemoLdap } from './ldap.ts';
import { type DemoOidcIdp, startDemoOidcIdp } from './oidc-idp.ts';
import {
  autoPostForm,
  buildResponse,
  type IdpKey,
  idpMetadata,
  makeIdpKey,
  signResponse,
} from './saml-idp.ts';

export { DEMO_OWNER, DEMO_TENANT } from './common.ts';

/**
 * The demo `npm start` seeds (unless DEMO=0): a tenant "demo" with three identity providers and
 * an application, so a newcomer can click through every kind of login at once from /demo/idp:
 *
 * - a SAML IdP this local server plays (/demo/idp): a tile posts a signed response to the ACS
 *   (IdP-initiated), and it answers AuthnRequests (SP-initiated);
 * - an OpenID Provider (`oidc-provider`, under /demo/oidc): a tile opens the service's
 *   /oidc/{c}/login with `iss` (third-party-initiated login);
 * - an LDAP directory (slapd, when installed) behind the hosted login page's password form;
 * - the demo application (./app.ts) on its own origin, registered through the operator API and
 *   made the tenant's default application, where each of these logins lands;
 * - the tenant's owner, owner@demo.test, with a password printed at start-up, for the console.
 *
 * `demo: true` in the stack options is the SAML IdP alone; the rest is asked for by DemoOptions.
 */
export interface DemoOptions {
  /** The demo OpenID Provider under /demo/oidc and its connection. */
  oidc?: boolean;
  /** The demo LDAP directory (slapd, when installed) and its connection. */
  ldap?: boolean;
  /** The demo application on this port (0: a free one); absent, no application. */
  app?: { port: number; host?: string };
}

export interface Demo {
  /** The SAML connection. */
  connectionId: string;
  oidcConnectionId?: string;
  ldapConnectionId?: string;
  /** The demo application's URL, when it runs. */
  appUrl?: string;
  /** The demo tenant's owner and her password (for the console). */
  owner: { email: string; password: string };
  /** The demo pages under /demo/, for the local server's `extra` hook. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** Seeds the tenant, its connections, groups and application (idempotent: every start runs it). */
  seed(api: Api): Promise<void>;
  close(): Promise<void>;
}

async function demoKey(dataDir: string | undefined): Promise<IdpKey> {
  const file = dataDir ? join(dataDir, 'demo-idp.json') : undefined;
  if (file) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as IdpKey;
    } catch {
      // first start: make one below
    }
  }
  const key = makeIdpKey({ cn: 'Demo IdP' });
  if (file) await writeFile(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}

/** The demo owner's password: made at the first start, then read from the data directory. */
async function ownerPassword(dataDir: string | undefined): Promise<{ password: string; made: boolean }> {
  const file = dataDir ? join(dataDir, 'demo-owner.json') : undefined;
  if (file) {
    try {
      const stored = JSON.parse(await readFile(file, 'utf8')) as { password?: unknown };
      if (typeof stored.password === 'string' && stored.password.length >= 12) {
        return { password: stored.password, made: false };
      }
    } catch {
      // first start: make one below
    }
  }
  const password = `demo-${randomBytes(12).toString('base64url')}`;
  if (file) await writeFile(file, JSON.stringify({ password }), { mode: 0o600 });
  return { password, made: true };
}

const T = `/admin/tenants/${DEMO_TENANT}`;

/**
 * The demo owner, made with her password; a restart finds her. A password made afresh (its file
 * was removed, or the data is in memory) is given to her again, and she is the owner again.
 */
async function seedOwner(api: Api, owner: { password: string; made: boolean }) {
  const found = expectStatus(
    await api.call('GET', `${T}/users?email=${encodeURIComponent(DEMO_OWNER.email)}`),
    200,
    'finding the demo owner',
  ).items as { id: string; role: string; version: number }[];
  const existing = found[0];
  if (!existing) {
    expectStatus(
      await api.call('POST', `${T}/users`, {
        email: DEMO_OWNER.email,
        firstName: DEMO_OWNER.firstName,
        lastName: DEMO_OWNER.lastName,
        role: 'owner',
        password: owner.password,
      }),
      201,
      'creating the demo owner',
    );
    return;
  }
  if (owner.made || existing.role !== 'owner') {
    expectStatus(
      await api.call('PATCH', `${T}/users/${existing.id}`, {
        role: 'owner',
        password: owner.password,
        version: existing.version,
      }),
      200,
      'updating the demo owner',
    );
  }
}

/** The demo people's email domain, verified for the demo tenant (by the operator). */
const DEMO_DOMAIN = DEMO_OWNER.email.split('@')[1] ?? 'demo.test';

/**
 * demo.test, verified for the demo tenant, so the demo directory may vouch for it: an owner is
 * linked to an identity a connection has not signed her in with before only when the connection
 * vouches for her email's domain (the demo owner's first LDAP sign-in, and each after a restart,
 * as the directory is made afresh).
 */
async function seedDomain(api: Api) {
  const added = await api.call('POST', `${T}/domains`, { domain: DEMO_DOMAIN });
  if (added.status !== 200 && added.status !== 201) expectStatus(added, 201, 'adding the demo domain');
  expectStatus(
    await api.call('POST', `${T}/domains/${DEMO_DOMAIN}/verify`, { method: 'operator' }),
    200,
    'verifying the demo domain',
  );
}

/** The connection of this name (and type), created from `body` or brought up to date with `patch`. */
async function upsertConnection(
  api: Api,
  body: { type: string; name: string } & Record<string, unknown>,
  patch: Record<string, unknown>,
): Promise<string> {
  const list = expectStatus(await api.call('GET', `${T}/connections`), 200, 'listing connections');
  const existing = (list.items as { id: string; type: string; name: string }[] | undefined)?.find(
    (c) => c.type === body.type && c.name === body.name,
  );
  if (existing) {
    expectStatus(
      await api.call('PATCH', `${T}/connections/${existing.id}`, patch),
      200,
      `updating ${body.name}`,
    );
    return existing.id;
  }
  return expectStatus(await api.call('POST', `${T}/connections`, body), 201, `creating ${body.name}`)
    .id as string;
}

/**
 * Application groups Engineering (member) and Admins (administrator), each mapped from the
 * connection's external role for the matching directory group or claim value.
 */
async function mapGroups(api: Api, connectionId: string, externals: { externalId: string; name: string }[]) {
  const listed = expectStatus(await api.call('GET', `${T}/groups`), 200, 'listing groups');
  const groups = listed.items as { id: string; name: string }[];
  const xroles = expectStatus(await api.call('GET', `${T}/external-roles`), 200, 'listing external roles')
    .items as { id: string; connectionId: string; externalId: string }[];
  // An LDAP directory made afresh has new entryUUIDs: drop the roles of the one before.
  for (const stale of xroles.filter(
    (x) => x.connectionId === connectionId && !externals.some((e) => e.externalId === x.externalId),
  )) {
    await api.call('DELETE', `${T}/external-roles/${stale.id}`);
  }
  for (const wanted of DEMO_GROUPS) {
    const external = externals.find((e) => e.name === wanted.externalId);
    if (!external) continue;
    let group = groups.find((g) => g.name === wanted.name);
    if (!group) {
      group = expectStatus(
        await api.call('POST', `${T}/groups`, { name: wanted.name }),
        201,
        'creating a group',
      ) as {
        id: string;
        name: string;
      };
      groups.push(group);
    }
    const xroleId =
      xroles.find((x) => x.connectionId === connectionId && x.externalId === external.externalId)?.id ??
      (expectStatus(
        await api.call('POST', `${T}/external-roles`, { connectionId, ...external }),
        201,
        'creating an external role',
      ).id as string);
    expectStatus(
      await api.call('PUT', `${T}/groups/${group.id}/external-roles/${xroleId}`, {
        accessLevel: wanted.accessLevel,
      }),
      200,
      'mapping a group',
    );
  }
}

const claimValues = () => DEMO_GROUPS.map((g) => ({ externalId: g.externalId, name: g.externalId }));

export async function createDemo(
  baseUrl: string,
  dataDir: string | undefined,
  options: DemoOptions = {},
): Promise<Demo> {
  const key = await demoKey(dataDir);
  const owner = await ownerPassword(dataDir);
  const entityId = `${baseUrl}/demo/idp/metadata`;
  const metadata = idpMetadata(entityId, [key.certDer], `${baseUrl}/demo/idp/sso`);
  const oidc: DemoOidcIdp | undefined = options.oidc ? await startDemoOidcIdp(baseUrl, dataDir) : undefined;
  let ldap: DemoLdap | undefined;
  let app: DemoApp | undefined;

  const acs = () => `${baseUrl}/saml/${demo.connectionId}/acs`;
  const respond = (user: DemoUser, inResponseTo?: string) =>
    signResponse(
      buildResponse({
        issuer: entityId,
        destination: acs(),
        recipient: acs(),
        audiences: [`${baseUrl}/saml/${demo.connectionId}/metadata.xml`],
        nameId: user.email,
        attributes: { firstName: user.firstName, lastName: user.lastName, groups: [...user.groups] },
        assertionId: `_${randomUUID()}`,
        ...(inResponseTo ? { inResponseTo } : {}),
      }),
      key,
      'both',
    );

  /** /demo/idp: the three ways in. */
  const portal = () => {
    const samlTiles = DEMO_USERS.map(
      (u) =>
        `<a class="tile" data-method="saml" href="/demo/idp/launch?user=${encodeURIComponent(u.email)}">Demo Company app<small>as ${esc(u.firstName)} ${esc(u.lastName)}</small></a>`,
    ).join('');
    let body = `<p>Your apps:</p>${samlTiles}`;
    if (!oidc && !options.ldap && !app) return body;
    const landing = app
      ? `<p>Each way signs you in to the service, which then sends you on to the tenant's default
application, the <a href="${esc(app.url)}">demo application</a>, signed in.</p>`
      : '';
    body = `${landing}<h2>SAML 2.0, IdP-initiated</h2>
<p class="muted">The tile posts a signed SAML response to the service's assertion consumer service.</p>${samlTiles}`;
    if (oidc && demo.oidcConnectionId) {
      const tiles = DEMO_USERS.map((u) => {
        const start = new URL(`${baseUrl}/oidc/${demo.oidcConnectionId}/login`);
        start.searchParams.set('iss', oidc.issuer);
        start.searchParams.set('login_hint', u.email);
        return `<a class="tile" data-method="oidc" href="${esc(start.href)}">Demo Company app<small>as ${esc(u.firstName)} ${esc(u.lastName)}</small></a>`;
      }).join('');
      body += `<h2>OpenID Connect, third-party-initiated</h2>
<p class="muted">The tile opens the service's login URI with <code>iss</code> (OpenID Connect Core §4); the demo
OpenID Provider at <code>${esc(oidc.issuer)}</code> signs the person in.</p>${tiles}`;
    }
    if (options.ldap) {
      body += ldap
        ? `<h2>LDAP directory</h2><p>On the <a id="ldap-login" href="/t/${DEMO_TENANT}/login">hosted login page</a>, sign in with
${DEMO_USERS.map((u) => `<code>${esc(u.email)}</code>`).join(' or ')} and the password <code>${esc(LDAP_PASSWORD)}</code>
(slapd at <code>${esc(ldap.url)}</code>, StartTLS).</p>`
        : '<h2>LDAP directory</h2><p class="muted">Not running: slapd is not installed (apt-get install slapd).</p>';
    }
    return body;
  };

  const demo: Demo = {
    connectionId: '',
    owner: { email: DEMO_OWNER.email, password: owner.password },
    async seed(api) {
      const tenant = await api.call('GET', T);
      if (tenant.status === 404) {
        expectStatus(
          await api.call('POST', '/admin/tenants', {
            id: DEMO_TENANT,
            name: 'Demo Company',
            settings: { ssoEnabled: true, appUrl: `${baseUrl}/t/${DEMO_TENANT}/login` },
          }),
          201,
          'creating the demo tenant',
        );
      }
      await seedOwner(api, owner);
      demo.connectionId = await upsertConnection(
        api,
        {
          type: 'saml',
          name: 'Demo SAML IdP',
          saml: { idpMetadataXml: metadata, groupsAttribute: 'groups' },
          provisioning: { mode: 'jit', defaultRole: 'member' },
        },
        { saml: { idpMetadataXml: metadata } },
      );
      if (!oidc && !options.ldap && !options.app) return;
      await mapGroups(api, demo.connectionId, claimValues());

      if (oidc) {
        const client = { issuer: oidc.issuer, clientId: oidc.clientId, clientSecret: oidc.clientSecret };
        demo.oidcConnectionId = await upsertConnection(
          api,
          {
            type: 'oidc',
            name: 'Demo OIDC IdP',
            oidc: { ...client, scopes: ['profile', 'groups'], groupsClaim: 'groups', prompt: ['login'] },
            provisioning: {
              mode: 'jit',
              defaultRole: 'member',
              attributeMap: { firstName: 'given_name', lastName: 'family_name' },
            },
          },
          { oidc: client },
        );
        await oidc.allowRedirect(`${baseUrl}/oidc/${demo.oidcConnectionId}/callback`);
        await mapGroups(api, demo.oidcConnectionId, claimValues());
      }

      if (options.ldap) {
        ldap = await startDemoLdap(owner.password);
        if (ldap) await seedDomain(api);
        const list = expectStatus(await api.call('GET', `${T}/connections`), 200, 'listing connections');
        const before = (list.items as { id: string; type: string; name: string }[]).find(
          (c) => c.type === 'ldap' && c.name === 'Demo LDAP',
        );
        if (ldap) {
          const config = ldap.config();
          demo.ldapConnectionId = await upsertConnection(
            api,
            {
              type: 'ldap',
              name: 'Demo LDAP',
              ldap: config,
              provisioning: { mode: 'jit', defaultRole: 'member', verifiedDomains: [DEMO_DOMAIN] },
            },
            { enabled: true, ldap: config, provisioning: { verifiedDomains: [DEMO_DOMAIN] } },
          );
          const found = expectStatus(
            await api.call('GET', `${T}/connections/${demo.ldapConnectionId}/directory-groups?q=`),
            200,
            'listing the directory groups',
          );
          const groups = found.items as { externalId: string; name: string }[];
          await mapGroups(
            api,
            demo.ldapConnectionId,
            groups.map((g) => ({ externalId: g.externalId, name: g.name })),
          );
        } else if (before) {
          // Left from a start that had slapd: off, so the login page does not offer a dead form.
          await api.call('PATCH', `${T}/connections/${before.id}`, { enabled: false });
        }
      }

      if (options.app) {
        app = await startDemoApp({ issuer: baseUrl, ...options.app });
        demo.appUrl = app.url;
        await registerDemoApp(api, app);
      }
    },
    async handle(req, res, url) {
      if (oidc && (await oidc.handle(req, res, url))) return true;
      if (!url.pathname.startsWith('/demo/idp')) return false;
      if (url.pathname === '/demo/idp/metadata') {
        res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
        res.end(metadata);
        return true;
      }
      const user = DEMO_USERS.find((u) => u.email === url.searchParams.get('user'));
      if (url.pathname === '/demo/idp/launch' && user) {
        // IdP-initiated: the tile posts a fresh signed response to the ACS.
        send(res, 200, autoPostForm(acs(), respond(user)));
        return true;
      }
      if (url.pathname === '/demo/idp/sso') {
        // SP-initiated: answer the AuthnRequest for the chosen user, echoing its ID and RelayState.
        const request = url.searchParams.get('SAMLRequest') ?? '';
        const relay = url.searchParams.get('RelayState') ?? undefined;
        let id: string | undefined;
        try {
          id = /ID="([^"]+)"/.exec(inflateRawSync(Buffer.from(request, 'base64')).toString('utf8'))?.[1];
        } catch {
          id = undefined;
        }
        if (!id) {
          send(res, 400, page('Demo IdP', '<p>Bad AuthnRequest.</p>'));
          return true;
        }
        if (user) {
          send(res, 200, autoPostForm(acs(), respond(user, id), relay));
          return true;
        }
        const links = DEMO_USERS.map(
          (u) =>
            `<a class="tile" href="/demo/idp/sso?${new URLSearchParams({ SAMLRequest: request, ...(relay ? { RelayState: relay } : {}), user: u.email })}">${esc(u.firstName)} ${esc(u.lastName)}<small>${esc(u.email)}</small></a>`,
        ).join('');
        send(res, 200, page('Demo IdP: choose who signs in', links));
        return true;
      }
      send(res, 200, page('Demo IdP portal', portal()));
      return true;
    },
    async close() {
      await Promise.all([app?.close(), ldap?.stop()]);
    },
  };
  return demo;
}
