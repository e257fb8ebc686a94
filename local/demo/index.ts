import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import {
  autoPostForm,
  buildResponse,
  type IdpKey,
  idpMetadata,
  makeIdpKey,
  signResponse,
} from './saml-idp.ts';

/**
 * The demo `npm start` seeds (unless DEMO=0): a tenant "demo" wired to a demo SAML identity
 * provider that this local server also plays, so a newcomer can click through an IdP-initiated
 * login at once: open /demo/idp, click the app tile, and land signed in.
 */
export const DEMO_TENANT = 'demo';
const DEMO_USERS = [
  { email: 'ada@demo.test', firstName: 'Ada', lastName: 'Lovelace', groups: ['engineering'] },
  { email: 'grace@demo.test', firstName: 'Grace', lastName: 'Hopper', groups: ['engineering', 'admins'] },
];

interface Api {
  call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
}

export interface Demo {
  connectionId: string;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
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

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function seedDemo(baseUrl: string, api: Api, dataDir: string | undefined): Promise<Demo> {
  const key = await demoKey(dataDir);
  const entityId = `${baseUrl}/demo/idp/metadata`;
  const metadata = idpMetadata(entityId, [key.certDer], `${baseUrl}/demo/idp/sso`);
  const tenant = await api.call('GET', `/admin/tenants/${DEMO_TENANT}`);
  if (tenant.status === 404) {
    await api.call('POST', '/admin/tenants', {
      id: DEMO_TENANT,
      name: 'Demo Company',
      settings: { ssoEnabled: true, appUrl: `${baseUrl}/t/${DEMO_TENANT}/login` },
    });
  }
  const list = await api.call('GET', `/admin/tenants/${DEMO_TENANT}/connections`);
  const existing = (list.body.items as { id: string; type: string; name: string }[] | undefined)?.find(
    (c) => c.type === 'saml' && c.name === 'Demo SAML IdP',
  );
  let connectionId: string;
  if (existing) {
    connectionId = existing.id;
    await api.call('PATCH', `/admin/tenants/${DEMO_TENANT}/connections/${connectionId}`, {
      saml: { idpMetadataXml: metadata },
    });
  } else {
    const created = await api.call('POST', `/admin/tenants/${DEMO_TENANT}/connections`, {
      type: 'saml',
      name: 'Demo SAML IdP',
      saml: { idpMetadataXml: metadata, groupsAttribute: 'groups' },
      provisioning: { mode: 'jit', defaultRole: 'member' },
    });
    connectionId = created.body.id as string;
  }
  const acsUrl = `${baseUrl}/saml/${connectionId}/acs`;
  const spEntityId = `${baseUrl}/saml/${connectionId}/metadata.xml`;

  const respond = (user: (typeof DEMO_USERS)[number], inResponseTo?: string) =>
    signResponse(
      buildResponse({
        issuer: entityId,
        destination: acsUrl,
        recipient: acsUrl,
        audiences: [spEntityId],
        nameId: user.email,
        attributes: { firstName: user.firstName, lastName: user.lastName, groups: user.groups },
        assertionId: `_${randomUUID()}`,
        ...(inResponseTo ? { inResponseTo } : {}),
      }),
      key,
      'both',
    );

  const page = (title: string, body: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${esc(title)}</title><style>body{font-family:system-ui,sans-serif;background:#1f2933;color:#f5f7fa;margin:0}
main{max-width:40rem;margin:3rem auto;padding:0 1rem}.tile{display:inline-block;background:#f5f7fa;color:#1f2933;padding:1.2rem 1.6rem;
border-radius:10px;margin:.5rem;text-decoration:none;font-weight:600}.tile small{display:block;font-weight:400;color:#52606d}</style></head>
<body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;

  const send = (res: ServerResponse, status: number, html: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  };

  return {
    connectionId,
    async handle(_req, res, url) {
      if (!url.pathname.startsWith('/demo/idp')) return false;
      if (url.pathname === '/demo/idp/metadata') {
        res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
        res.end(metadata);
        return true;
      }
      const user = DEMO_USERS.find((u) => u.email === url.searchParams.get('user'));
      if (url.pathname === '/demo/idp/launch' && user) {
        // IdP-initiated: the tile posts a fresh signed response to the ACS.
        send(res, 200, autoPostForm(acsUrl, respond(user)));
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
          send(res, 200, autoPostForm(acsUrl, respond(user, id), relay));
          return true;
        }
        const links = DEMO_USERS.map(
          (u) =>
            `<a class="tile" href="/demo/idp/sso?${new URLSearchParams({ SAMLRequest: request, ...(relay ? { RelayState: relay } : {}), user: u.email })}">${esc(u.firstName)} ${esc(u.lastName)}<small>${esc(u.email)}</small></a>`,
        ).join('');
        send(res, 200, page('Demo IdP: choose who signs in', links));
        return true;
      }
      const tiles = DEMO_USERS.map(
        (u) =>
          `<a class="tile" href="/demo/idp/launch?user=${encodeURIComponent(u.email)}">Demo Company app<small>as ${esc(u.firstName)} ${esc(u.lastName)}</small></a>`,
      ).join('');
      send(res, 200, page('Demo IdP portal', `<p>Your apps:</p>${tiles}`));
      return true;
    },
  };
}
