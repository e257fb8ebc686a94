import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '#shared/ports/clock.ts';
import { idpMetadata, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Setup links over HTTP (issue 16, item 3): who may make, list and revoke them; a link's GET only
 * shows a button (nothing written), its POST (CSRF-checked) opens it once, even under parallel uses; its browser session reaches the tenant's SSO connections and
 * nothing else, ends when the link is revoked or expires, and what it changes is audited under
 * the link's id. Neither the token nor the session id is stored in plain text.
 */
const TENANT = 'setup-co';
const OTHER = 'setup-other';
const PASSWORD = 'Setup-links-passw0rd!';
const clock = new ManualClock();

let stack: TestStack;
const jwt: Record<string, string> = {};

interface Answer {
  status: number;
  text: string;
  location: string | null;
  cacheControl: string | null;
  referrerPolicy: string | null;
  setCookies: string[];
}

/** A browser without an account: a cookie jar and form posts. */
class Browser {
  readonly cookies = new Map<string, string>();

  async send(method: string, path: string, form?: Record<string, string>): Promise<Answer> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(stack.url + path, {
      method,
      redirect: 'manual',
      headers: {
        accept: 'text/html',
        ...(cookie ? { cookie } : {}),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    const setCookies = res.headers.getSetCookie();
    for (const set of setCookies) {
      const pair = set.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value === '' || /max-age=0/i.test(set)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), value);
    }
    return {
      status: res.status,
      text: await res.text(),
      location: res.headers.get('location'),
      cacheControl: res.headers.get('cache-control'),
      referrerPolicy: res.headers.get('referrer-policy'),
      setCookies,
    };
  }

  get(path: string) {
    return this.send('GET', path);
  }

  async submit(path: string, fields: Record<string, string>) {
    const page = await this.get(path);
    expect(page.status, page.text.slice(0, 300)).toBe(200);
    return this.send('POST', path.split('?')[0] ?? path, { csrf: csrfOf(page.text), ...fields });
  }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const codeOf = (html: string) => /id="error-code">([^<]+)</.exec(html)?.[1];
const tokenOf = (url: string) => url.split('/').at(-1) ?? '';
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

interface Created {
  id: string;
  url: string;
  expiresAt: string;
  note?: string;
}

async function makeLink(body: Record<string, unknown> = {}, token = stack.operatorToken): Promise<Created> {
  const res = await stack.call<Created>('POST', `/admin/tenants/${TENANT}/setup-links`, { token, body });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** Shows a link in a fresh browser (GET: its page with the button, or its refusal): nothing spent. */
async function show(link: Created): Promise<{ browser: Browser; answer: Answer }> {
  const browser = new Browser();
  const answer = await browser.get(new URL(link.url).pathname);
  return { browser, answer };
}

/** Presses the button of a shown link's page (POST with the page's CSRF field). */
const press = (link: Created, shown: { browser: Browser; answer: Answer }) =>
  shown.browser.send('POST', new URL(link.url).pathname, { csrf: csrfOf(shown.answer.text) });

/**
 * Opens a link in a fresh browser as a person does: its page, then its button. The answer to the
 * button, or to the page when the page already refuses the link.
 */
async function open(link: Created): Promise<{ browser: Browser; answer: Answer }> {
  const shown = await show(link);
  if (shown.answer.status !== 200) return shown;
  return { browser: shown.browser, answer: await press(link, shown) };
}

const auditOf = async () =>
  (
    await stack.call<{ items: { type: string; detail?: Record<string, unknown> }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/audit?limit=100`,
    )
  ).body.items;

beforeAll(async () => {
  stack = await startTestStack({ clock });
  for (const id of [TENANT, OTHER]) {
    const t = await stack.call('POST', '/admin/tenants', { body: { id, name: `${id} Inc`, settings: {} } });
    if (t.status !== 201) throw new Error(t.text);
  }
  const people: [string, string][] = [
    [TENANT, 'owner'],
    [TENANT, 'admin'],
    [TENANT, 'auditor'],
    [TENANT, 'member'],
    [OTHER, 'owner'],
  ];
  for (const [tenantId, role] of people) {
    const email = `${role}@${tenantId}.test`;
    const u = await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email, role, password: PASSWORD },
    });
    if (u.status !== 201) throw new Error(u.text);
    const login = await stack.call<{ token: string }>('POST', '/login/password', {
      token: null,
      body: { tenantId, email, password: PASSWORD },
    });
    if (login.status !== 200) throw new Error(login.text);
    jwt[`${tenantId}:${role}`] = login.body.token;
  }
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('the admin API', () => {
  it('lets an owner, an admin and the operator make, list and revoke links; refuses an auditor, a member (403) and another tenant (404)', async () => {
    const base = `/admin/tenants/${TENANT}/setup-links`;
    for (const who of [`${TENANT}:owner`, `${TENANT}:admin`, 'operator']) {
      const token = who === 'operator' ? stack.operatorToken : (jwt[who] ?? '');
      const made = await stack.call<Created>('POST', base, {
        token,
        body: { note: `by ${who}`, expiresInDays: 3 },
      });
      expect(made.status, made.text).toBe(201);
      expect(made.body.url).toMatch(new RegExp(`^${stack.url}/console/${TENANT}/setup/[A-Za-z0-9_-]{43}$`));
      expect(Date.parse(made.body.expiresAt) - clock.now().getTime()).toBeCloseTo(3 * 86_400_000, -4);
      const list = await stack.call<{ items: Record<string, unknown>[] }>('GET', base, { token });
      expect(list.status).toBe(200);
      const listed = list.body.items.find((l) => l.id === made.body.id);
      expect(listed).toMatchObject({ note: `by ${who}`, expiresAt: made.body.expiresAt });
      expect(listed?.createdBy).toMatchObject({ actor: who === 'operator' ? 'operator' : 'user' });
      expect(JSON.stringify(list.body)).not.toContain(tokenOf(made.body.url));
      expect(Object.keys(listed ?? {})).not.toEqual(expect.arrayContaining(['url']));
      const revoked = await stack.call('DELETE', `${base}/${made.body.id}`, { token });
      expect(revoked.status, revoked.text).toBe(204);
      expect((await stack.call('DELETE', `${base}/${made.body.id}`, { token })).status).toBe(404);
    }
    const someLink = await makeLink();
    const refused: [string, number][] = [
      [`${TENANT}:auditor`, 403],
      [`${TENANT}:member`, 403],
      [`${OTHER}:owner`, 404],
    ];
    for (const [who, status] of refused) {
      const token = jwt[who] ?? '';
      // Refused before the body is read: an invalid body answers the same.
      for (const body of [{}, { expiresInDays: 30 }]) {
        expect((await stack.call('POST', base, { token, body })).status, who).toBe(status);
      }
      expect((await stack.call('GET', base, { token })).status, who).toBe(status);
      expect((await stack.call('DELETE', `${base}/${someLink.id}`, { token })).status, who).toBe(status);
    }
    expect((await stack.call('GET', base, { token: null })).status).toBe(401);
  });

  it('validates the body: 1 to 7 days (7 by default), a short note, nothing else', async () => {
    const base = `/admin/tenants/${TENANT}/setup-links`;
    const byDefault = await makeLink();
    expect(Date.parse(byDefault.expiresAt) - clock.now().getTime()).toBeCloseTo(7 * 86_400_000, -4);
    for (const body of [
      { expiresInDays: 0 },
      { expiresInDays: 8 },
      { expiresInDays: 1.5 },
      { note: 'x'.repeat(201) },
      { extra: 1 },
    ]) {
      const res = await stack.call<{ error: { code: string } }>('POST', base, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    const none = await stack.call('POST', base, {});
    expect(none.status, none.text).toBe(201);
  });

  it('never takes the setup cookie (or its value as a bearer token)', async () => {
    const { browser } = await open(await makeLink());
    const session = browser.cookies.get('sso_setup') ?? '';
    expect(session).not.toBe('');
    const byCookie = await stack.call('GET', `/admin/tenants/${TENANT}/connections`, {
      token: null,
      headers: { cookie: `sso_setup=${session}` },
    });
    expect(byCookie.status).toBe(401);
    const byBearer = await stack.call('GET', `/admin/tenants/${TENANT}/connections`, { token: session });
    expect(byBearer.status).toBe(401);
  });
});

describe('using a link', () => {
  it('opens the connections with an HttpOnly, SameSite=Lax cookie for this tenant’s console; a second use is refused', async () => {
    const link = await makeLink({ note: 'for the IdP admin' });
    const { browser, answer } = await open(link);
    expect(answer.status, answer.text.slice(0, 300)).toBe(303);
    expect(answer.location).toBe(`/console/${TENANT}/connections`);
    expect(answer.cacheControl).toBe('no-store');
    const cookie = answer.setCookies.find((c) => c.startsWith('sso_setup=')) ?? '';
    expect(cookie).toMatch(new RegExp(`; Path=/console/${TENANT}; HttpOnly; SameSite=Lax; Max-Age=\\d+`));
    const page = await browser.get(answer.location ?? '');
    expect(page.status).toBe(200);
    expect(page.text).toContain('id="who-email">Setup link<');
    expect(page.text).not.toContain('action="/logout"');
    // Only the connections in the navigation.
    expect(page.text).toContain(`href="/console/${TENANT}/connections"`);
    expect(page.text).not.toContain(`href="/console/${TENANT}/users"`);

    const again = await open(link);
    expect(again.answer.status).toBe(400);
    expect(codeOf(again.answer.text)).toBe('link_invalid');
    expect(again.answer.text).toContain('id="setup-refused"');
    expect(again.browser.cookies.has('sso_setup')).toBe(false);
    // The first browser's session still stands.
    expect((await browser.get(`/console/${TENANT}/connections`)).status).toBe(200);

    const listed = await stack.call<{ items: { id: string; usedAt?: string }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/setup-links`,
    );
    expect(listed.body.items.find((l) => l.id === link.id)?.usedAt).toEqual(expect.any(String));
    const used = (await auditOf()).filter(
      (r) => r.type === 'setup_link.used' && r.detail?.setupLinkId === link.id,
    );
    expect(used).toHaveLength(1);
  });

  it('an owner who opens a link in their own signed-in browser keeps their console', async () => {
    const { browser } = await open(await makeLink());
    browser.cookies.set('sso_session', jwt[`${TENANT}:owner`] ?? '');
    const settings = await browser.get(`/console/${TENANT}/settings`);
    expect(settings.status).toBe(200);
    expect(settings.text).toContain(`id="who-email">owner@${TENANT}.test<`);
    // A member's session does not hide the link's pages.
    browser.cookies.set('sso_session', jwt[`${TENANT}:member`] ?? '');
    const connections = await browser.get(`/console/${TENANT}/connections`);
    expect(connections.status).toBe(200);
    expect(connections.text).toContain('id="who-email">Setup link<');
  });

  it('GET only shows the link: nothing written, as often as it is followed (a mail scanner spends nothing)', async () => {
    const link = await makeLink();
    const before = JSON.stringify(await stack.items());
    for (let i = 0; i < 3; i++) {
      const { browser, answer } = await show(link);
      expect(answer.status, answer.text.slice(0, 300)).toBe(200);
      expect(answer.text).toContain(`Open the single sign-on setup for ${TENANT} Inc`);
      expect(answer.text).toContain(`action="/console/${TENANT}/setup/${tokenOf(link.url)}"`);
      expect(answer.text).toContain('id="open-setup"');
      expect(csrfOf(answer.text)).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(answer.cacheControl).toBe('no-store');
      expect(answer.referrerPolicy).toBe('same-origin');
      expect(answer.setCookies.some((c) => c.startsWith('sso_console_csrf='))).toBe(true);
      expect(browser.cookies.has('sso_setup')).toBe(false);
    }
    expect(JSON.stringify(await stack.items())).toBe(before);
    const listed = await stack.call<{ items: { id: string; usedAt?: string }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/setup-links`,
    );
    expect(listed.body.items.find((l) => l.id === link.id)?.usedAt).toBeUndefined();
    expect((await auditOf()).some((r) => r.type === 'setup_link.used' && r.detail?.linkId === link.id)).toBe(
      false,
    );
  });

  it('POST without the CSRF token or from another origin: 403 csrf_failed, the link unspent; once: a session; again: refused', async () => {
    const link = await makeLink();
    const path = new URL(link.url).pathname;
    const shown = await show(link);
    const csrf = csrfOf(shown.answer.text);
    // No field, a wrong field, no cookie, another site's Origin.
    const attempts: [Record<string, string>, Record<string, string>][] = [
      [{}, { cookie: `sso_console_csrf=${csrf}` }],
      [{ csrf: 'b'.repeat(32) }, { cookie: `sso_console_csrf=${csrf}` }],
      [{ csrf }, {}],
      [{ csrf }, { cookie: `sso_console_csrf=${csrf}`, origin: 'https://evil.example' }],
    ];
    for (const [form, headers] of attempts) {
      const res = await fetch(stack.url + path, {
        method: 'POST',
        redirect: 'manual',
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      });
      const text = await res.text();
      expect(res.status, JSON.stringify(form)).toBe(403);
      expect(codeOf(text)).toBe('csrf_failed');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.getSetCookie().some((c) => c.startsWith('sso_setup='))).toBe(false);
    }
    // Still unused: the page shows it, its button opens it once.
    expect((await show(link)).answer.status).toBe(200);
    const first = await press(link, shown);
    expect(first.status, first.text.slice(0, 300)).toBe(303);
    expect(first.location).toBe(`/console/${TENANT}/connections`);
    expect(first.referrerPolicy).toBe('no-referrer');
    expect(shown.browser.cookies.has('sso_setup')).toBe(true);
    const again = await press(link, shown);
    expect(again.status).toBe(400);
    expect(codeOf(again.text)).toBe('link_invalid');
    expect(again.setCookies.some((c) => c.startsWith('sso_setup='))).toBe(false);
    // And its page refuses it now.
    const refused = await show(link);
    expect(refused.answer.status).toBe(400);
    expect(codeOf(refused.answer.text)).toBe('link_invalid');
    expect(refused.answer.text).toContain('id="setup-refused"');
    expect(refused.answer.text).not.toContain('id="open-setup"');
    expect(refused.answer.cacheControl).toBe('no-store');
    expect(refused.answer.referrerPolicy).toBe('no-referrer');
  });

  it('two parallel uses of one link: exactly one opens it', async () => {
    for (let round = 0; round < 5; round++) {
      const link = await makeLink();
      const shown = await Promise.all([show(link), show(link), show(link)]);
      for (const s of shown) expect(s.answer.status).toBe(200);
      const answers = await Promise.all(shown.map((s) => press(link, s)));
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([303, 400, 400]);
      const winners = shown.filter((s) => s.browser.cookies.has('sso_setup'));
      expect(winners).toHaveLength(1);
    }
  });

  it('refuses a mistyped token, another tenant’s path for the token, and a token of the wrong shape', async () => {
    const link = await makeLink();
    const token = tokenOf(link.url);
    for (const path of [
      `/console/${TENANT}/setup/${token.slice(0, -1)}A`,
      `/console/${OTHER}/setup/${token}`,
      `/console/${TENANT}/setup/${'x'.repeat(100)}`,
    ]) {
      const res = await new Browser().get(path);
      expect(res.status, path).toBe(400);
      expect(codeOf(res.text)).toBe('link_invalid');
    }
    // Still unused: it opens.
    expect((await open(link)).answer.status).toBe(303);
  });
});

describe('what a setup session reaches', () => {
  it('the connections only: users, groups, tokens, audit and settings are 403, another tenant is 404', async () => {
    const { browser } = await open(await makeLink());
    for (const section of ['settings', 'users', 'groups', 'tokens', 'audit']) {
      const res = await browser.get(`/console/${TENANT}/${section}`);
      expect(res.status, section).toBe(403);
      expect(codeOf(res.text)).toBe('forbidden');
    }
    // A post is refused the same, before its CSRF token is even looked at.
    const page = await browser.get(`/console/${TENANT}/connections`);
    const invite = await browser.send('POST', `/console/${TENANT}/users`, {
      csrf: csrfOf(page.text),
      action: 'invite',
      email: 'intruder@setup-co.test',
      role: 'owner',
    });
    expect(invite.status).toBe(403);
    const token = await browser.send('POST', `/console/${TENANT}/tokens`, {
      csrf: csrfOf(page.text),
      action: 'create',
      name: 'keep',
      expiresInDays: '365',
    });
    expect(token.status).toBe(403);
    const users = await stack.call<{ items: { email: string }[] }>('GET', `/admin/tenants/${TENANT}/users`);
    expect(users.body.items.map((u) => u.email)).not.toContain('intruder@setup-co.test');
    // The cookie sent by hand to another tenant's console (a browser would not send it there).
    const other = await fetch(`${stack.url}/console/${OTHER}/connections`, {
      redirect: 'manual',
      headers: { cookie: `sso_setup=${browser.cookies.get('sso_setup')}` },
    });
    expect(other.status).toBe(404);
    // GET /console/{t} sends it to the connections, not to the settings it may not open.
    const home = await browser.get(`/console/${TENANT}`);
    expect(home.location).toBe(`/console/${TENANT}/connections`);
  });

  it('configures a SAML connection: created, enabled, audited under the link’s id', async () => {
    const link = await makeLink();
    const { browser } = await open(link);
    const key = makeIdpKey({ cn: 'Setup IdP' });
    const created = await browser.submit(`/console/${TENANT}/connections/new?type=saml`, {
      action: 'create',
      type: 'saml',
      name: 'Customer IdP',
      'provisioning.mode': 'jit',
      'provisioning.defaultRole': 'member',
      metadataSource: 'xml',
      idpMetadataXml: idpMetadata('https://idp.setup.test', [key.certDer], 'https://idp.setup.test/sso'),
    });
    expect(created.status, created.text.slice(0, 800)).toBe(303);
    expect(created.location).toMatch(/\?done=connection-checked$/);
    const id = (created.location ?? '').split('?')[0]?.split('/').at(-1) ?? '';
    const page = await browser.get(created.location ?? '');
    expect(page.text).toContain('data-compatible="true"');
    const version = /name="version" value="(\d+)"/.exec(page.text)?.[1] ?? '';
    const enabled = await browser.send('POST', `/console/${TENANT}/connections/${id}`, {
      csrf: csrfOf(page.text),
      action: 'enable',
      version,
    });
    expect(enabled.status, enabled.text.slice(0, 500)).toBe(303);
    const read = await stack.call<{ enabled: boolean }>('GET', `/admin/tenants/${TENANT}/connections/${id}`);
    expect(read.body.enabled).toBe(true);
    const records = (await auditOf()).filter((r) => r.detail?.connectionId === id);
    expect(records.map((r) => r.type)).toEqual(expect.arrayContaining(['connection.created']));
    for (const r of records) {
      expect(r.detail).toMatchObject({ actor: 'setup-link', setupLinkId: link.id });
      expect(r.detail).not.toHaveProperty('actorUserId');
    }
  });

  it('cannot make the accounts a connection creates more than members: no admin by default, no role from the IdP', async () => {
    const { browser } = await open(await makeLink());
    const key = makeIdpKey({ cn: 'Escalating IdP' });
    const fields = {
      action: 'create',
      type: 'saml',
      name: 'Escalating IdP',
      'provisioning.mode': 'jit',
      'provisioning.defaultRole': 'admin',
      metadataSource: 'xml',
      idpMetadataXml: idpMetadata(
        'https://idp.escalate.test',
        [key.certDer],
        'https://idp.escalate.test/sso',
      ),
    };
    const refused = await browser.submit(`/console/${TENANT}/connections/new?type=saml`, fields);
    expect(refused.status).toBe(403);
    expect(codeOf(refused.text)).toBe('forbidden');
    const list = await stack.call<{ items: { name: string }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/connections`,
    );
    expect(list.body.items.map((c) => c.name)).not.toContain('Escalating IdP');
    // The owner may; the link then edits that connection without being refused for it.
    const owned = await stack.call<{ id: string; version: number }>(
      'POST',
      `/admin/tenants/${TENANT}/connections`,
      {
        body: {
          type: 'saml',
          name: 'Owner IdP',
          enabled: false,
          provisioning: { mode: 'jit', defaultRole: 'admin' },
          saml: { idpMetadataXml: fields.idpMetadataXml },
        },
      },
    );
    expect(owned.status, owned.text).toBe(201);
    const page = `/console/${TENANT}/connections/${owned.body.id}`;
    const opened = await browser.get(page);
    const version = /name="version" value="(\d+)"/.exec(opened.text)?.[1] ?? '';
    const enabled = await browser.send('POST', page, {
      csrf: csrfOf(opened.text),
      action: 'enable',
      version,
    });
    expect(enabled.status, enabled.text.slice(0, 500)).toBe(303);
  });

  it('ends when the link is revoked: the next page says so and clears the cookie', async () => {
    const link = await makeLink();
    const { browser } = await open(link);
    expect((await browser.get(`/console/${TENANT}/connections`)).status).toBe(200);
    const revoked = await stack.call('DELETE', `/admin/tenants/${TENANT}/setup-links/${link.id}`, {
      token: jwt[`${TENANT}:owner`] ?? '',
    });
    expect(revoked.status).toBe(204);
    const session = browser.cookies.get('sso_setup') ?? '';
    const after = await browser.get(`/console/${TENANT}/connections`);
    expect(after.status).toBe(401);
    expect(after.text).toContain('revoked');
    expect(codeOf(after.text)).toBe('session_revoked');
    expect(after.setCookies.some((c) => /^sso_setup=;.*Max-Age=0/.test(c))).toBe(true);
    // The same cookie sent again (a browser that kept it), with a form: still refused, nothing written.
    const posted = await fetch(`${stack.url}/console/${TENANT}/connections/new?type=saml`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        cookie: `sso_setup=${session}; sso_console_csrf=${'a'.repeat(32)}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        csrf: 'a'.repeat(32),
        action: 'create',
        type: 'saml',
        name: 'late',
      }).toString(),
    });
    expect(posted.status).toBe(401);
    const records = await auditOf();
    expect(
      records.find((r) => r.type === 'setup_link.revoked' && r.detail?.linkId === link.id)?.detail,
    ).toMatchObject({ actor: 'user', used: true });
    // An unused link, revoked, no longer opens.
    const unused = await makeLink();
    expect((await stack.call('DELETE', `/admin/tenants/${TENANT}/setup-links/${unused.id}`)).status).toBe(
      204,
    );
    const refused = await open(unused);
    expect(refused.answer.status).toBe(400);
    expect(codeOf(refused.answer.text)).toBe('link_invalid');
  });

  it('stores neither the token nor the session id, only their SHA-256', async () => {
    const link = await makeLink();
    const { browser } = await open(link);
    const session = browser.cookies.get('sso_setup') ?? '';
    const other = await makeLink();
    const stored = JSON.stringify(await stack.items());
    for (const secret of [tokenOf(link.url), tokenOf(other.url), session]) {
      expect(secret.length).toBeGreaterThan(40);
      expect(stored).not.toContain(secret);
    }
    expect(stored).toContain(sha256(tokenOf(other.url)));
    expect(stored).toContain(sha256(session));
  });
});

describe('expiry', () => {
  it('an expired link does not open, and a session ends when its link expires', async () => {
    const short = await makeLink({ expiresInDays: 1 });
    const unused = await makeLink({ expiresInDays: 1 });
    const { browser } = await open(short);
    expect((await browser.get(`/console/${TENANT}/connections`)).status).toBe(200);
    clock.advance(86_400 + 1);
    const ended = await browser.get(`/console/${TENANT}/connections`);
    expect(ended.status).toBe(401);
    expect(codeOf(ended.text)).toBe('session_revoked');
    const late = await open(unused);
    expect(late.answer.status).toBe(400);
    expect(codeOf(late.answer.text)).toBe('link_expired');
  });
});
