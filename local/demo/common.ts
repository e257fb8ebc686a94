import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the demo pieces share: the tenant, its people, and a small page style. */
export const DEMO_TENANT = 'demo';

/** The demo's people: the same two in the SAML IdP, the OIDC IdP and the LDAP directory. */
export const DEMO_USERS = [
  { uid: 'ada', email: 'ada@demo.test', firstName: 'Ada', lastName: 'Lovelace', groups: ['engineering'] },
  {
    uid: 'grace',
    email: 'grace@demo.test',
    firstName: 'Grace',
    lastName: 'Hopper',
    groups: ['engineering', 'admins'],
  },
] as const;
export type DemoUser = (typeof DEMO_USERS)[number];

/**
 * The demo tenant's owner, who opens the console: a password made at the first start (kept in
 * LOCAL_DATA_DIR) and printed at each; the demo directory has her too, with the same password, so
 * the hosted login page's form takes it whether it is the password form or the LDAP one.
 */
export const DEMO_OWNER = {
  uid: 'owner',
  email: 'owner@demo.test',
  firstName: 'Demo',
  lastName: 'Owner',
} as const;

/** The directory groups (and claim values) the demo maps to application groups. */
export const DEMO_GROUPS = [
  { externalId: 'engineering', name: 'Engineering', accessLevel: 'member' },
  { externalId: 'admins', name: 'Admins', accessLevel: 'administrator' },
] as const;

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{font-family:system-ui,sans-serif;background:#1f2933;color:#f5f7fa;margin:0}
main{max-width:44rem;margin:3rem auto;padding:0 1rem}a{color:#9fb3c8}h2{font-size:1.1rem;margin-top:2rem}
.tile{display:inline-block;background:#f5f7fa;color:#1f2933;padding:1.2rem 1.6rem;border-radius:10px;margin:.5rem;
text-decoration:none;font-weight:600;border:0;font:inherit;font-weight:600;cursor:pointer;text-align:left}
.tile small{display:block;font-weight:400;color:#52606d}.muted{color:#9aa5b1}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem}dt{color:#9aa5b1}dd{margin:0}
code,pre{background:#323f4b;border-radius:4px;padding:.1rem .3rem}pre{padding:.8rem;overflow:auto}`;

/** A whole page in the demo's style; `body` is HTML the caller escaped. */
export const page = (
  title: string,
  body: string,
) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;

export function send(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(html);
}

export function redirect(
  res: ServerResponse,
  location: string,
  headers: Record<string, string | string[]> = {},
) {
  res.writeHead(303, { location, 'cache-control': 'no-store', ...headers });
  res.end();
}

/** A form-encoded request body (at most 64 KB). */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** The operator API, as the demo seeding calls it. */
export interface Api {
  call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
}

/** Throws unless the answer has the expected status, with what the API said. */
export function expectStatus(
  answer: { status: number; body: Record<string, unknown> },
  expected: number | number[],
  what: string,
) {
  const ok = Array.isArray(expected) ? expected.includes(answer.status) : answer.status === expected;
  if (!ok) throw new Error(`demo: ${what} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}
