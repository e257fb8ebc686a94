import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idpMetadata, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * A setup link in Chromium: the owner makes one over the admin API; the customer's IT
 * administrator, without an account, opens it in a fresh browser (a page with a button: following
 * the link spends nothing, the button does), lands on the connections and
 * configures a SAML connection; the same link opened again is refused; once revoked, the page
 * opened with it closes. Screenshots go to test-results/console-setup-*.png.
 */
const TENANT = 'acme-setup';
const OWNER = { email: 'owner@acme-setup.test', password: 'Owner-passw0rd-long!' };
const IDP_ENTITY = 'https://idp.acme-setup.test/metadata';

let stack: TestStack;
let browser: Browser;
let scratch: string;
let ownerJwt = '';
let link = { id: '', url: '' };
let itAdmin: Page;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

const fresh = async () => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m) => {
    // The refusals this test asks for are logged by the browser as failed loads; scripts' errors are not those.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  return page;
};
const shot = (page: Page, name: string) =>
  page.screenshot({ path: `test-results/console-setup-${name}.png`, fullPage: true });
const base = () => `${stack.url}/console/${TENANT}`;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'console-setup-e2e-'));
  mkdirSync('test-results', { recursive: true });
  [stack, browser] = await Promise.all([startTestStack(), launchChromium()]);
  const t = await stack.call('POST', '/admin/tenants', { body: { id: TENANT, name: 'Acme Setup Inc.' } });
  if (t.status !== 201) throw new Error(t.text);
  const u = await stack.call('POST', `/admin/tenants/${TENANT}/users`, { body: { ...OWNER, role: 'owner' } });
  if (u.status !== 201) throw new Error(u.text);
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    token: null,
    body: { tenantId: TENANT, ...OWNER },
  });
  if (login.status !== 200) throw new Error(login.text);
  ownerJwt = login.body.token;
}, 90_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await stack?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('a setup link in Chromium', () => {
  it('the owner makes a link over the admin API', async () => {
    const res = await stack.call<{ id: string; url: string }>(
      'POST',
      `/admin/tenants/${TENANT}/setup-links`,
      {
        token: ownerJwt,
        body: { note: 'Okta admin at Acme', expiresInDays: 2 },
      },
    );
    expect(res.status, res.text).toBe(201);
    link = res.body;
    expect(link.url).toMatch(new RegExp(`^${stack.url}/console/${TENANT}/setup/`));
  });

  it('a link followed by a mail scanner or previewer spends nothing: its page only shows a button', async () => {
    const scanner = await fresh();
    const res = await scanner.goto(link.url);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['cache-control']).toBe('no-store');
    // Not no-referrer: under it Chromium sends `Origin: null` with the button's post, which the console refuses.
    expect(res?.headers()['referrer-policy']).toBe('same-origin');
    expect(await scanner.textContent('h1')).toBe('Open the single sign-on setup for Acme Setup Inc.');
    expect((await scanner.context().cookies()).some((c) => c.name === 'sso_setup')).toBe(false);
    await shot(scanner, 'button');
  });

  it('opens in a fresh browser on the connections, with “Setup link” for who and only the connections', async () => {
    itAdmin = await fresh();
    await itAdmin.goto(link.url);
    await Promise.all([itAdmin.waitForURL(`${base()}/connections`), itAdmin.click('#open-setup')]);
    expect(itAdmin.url()).toBe(`${base()}/connections`);
    expect(await itAdmin.textContent('#who-email')).toBe('Setup link');
    expect(await itAdmin.isVisible('#setup-note')).toBe(true);
    expect(await itAdmin.locator('nav.sections a').allTextContents()).toEqual(['Connections']);
    expect(await itAdmin.locator('form[action="/logout"]').count()).toBe(0);
    const cookie = (await itAdmin.context().cookies()).find((c) => c.name === 'sso_setup');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: `/console/${TENANT}` });
    await shot(itAdmin, 'connections');
  });

  it('configures a SAML connection from the IdP’s metadata file and enables it', async () => {
    await Promise.all([itAdmin.waitForURL(/connections\/new\?type=saml/), itAdmin.click('#new-saml')]);
    await itAdmin.fill('#connection-name', 'Acme Okta');
    const file = join(scratch, 'idp-metadata.xml');
    const key = makeIdpKey({ cn: 'Acme Okta' });
    writeFileSync(file, idpMetadata(IDP_ENTITY, [key.certDer], 'https://idp.acme-setup.test/sso'));
    await itAdmin.setInputFiles('#idp-metadata-file', file);
    await itAdmin.waitForFunction(
      () => (document.getElementById('idp-metadata-xml') as HTMLTextAreaElement).value !== '',
    );
    await Promise.all([itAdmin.waitForURL(/done=connection-checked/), itAdmin.click('#check')]);
    expect(await itAdmin.getAttribute('#compatibility', 'data-compatible')).toBe('true');
    expect(await itAdmin.inputValue('#sp-acs-url')).toMatch(
      new RegExp(`^${stack.url}/saml/[0-9a-f-]{36}/acs$`),
    );
    await shot(itAdmin, 'saml');
    await Promise.all([
      itAdmin.waitForURL(/done=connection-enabled/),
      itAdmin.click('#disabled-note #enable'),
    ]);
    expect(await itAdmin.textContent('#flash')).toContain('Connection enabled');

    const connections = await stack.call<{ items: { id: string; name: string; enabled: boolean }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/connections`,
    );
    const made = connections.body.items.find((c) => c.name === 'Acme Okta');
    expect(made?.enabled).toBe(true);
    const audit = await stack.call<{ items: { type: string; detail?: Record<string, unknown> }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/audit`,
    );
    const created = audit.body.items.find((r) => r.type === 'connection.created');
    expect(created?.detail).toMatchObject({
      actor: 'setup-link',
      setupLinkId: link.id,
      connectionId: made?.id,
    });
  });

  it('refuses the users page: a setup link opens the SSO connections only', async () => {
    const res = await itAdmin.goto(`${base()}/users`);
    expect(res?.status()).toBe(403);
    expect(await itAdmin.textContent('#error-code')).toBe('forbidden');
    await shot(itAdmin, 'forbidden');
  });

  it('refuses the same link opened again, in another browser', async () => {
    const other = await fresh();
    const res = await other.goto(link.url);
    expect(res?.status()).toBe(400);
    expect(await other.textContent('#error-code')).toBe('link_invalid');
    expect(await other.textContent('h1')).toBe('This setup link does not open anything');
    expect((await other.context().cookies()).some((c) => c.name === 'sso_setup')).toBe(false);
    await shot(other, 'refused');
  });

  it('closes the page opened with it once the owner revokes the link', async () => {
    const revoked = await stack.call('DELETE', `/admin/tenants/${TENANT}/setup-links/${link.id}`, {
      token: ownerJwt,
    });
    expect(revoked.status).toBe(204);
    const res = await itAdmin.goto(`${base()}/connections`);
    expect(res?.status()).toBe(401);
    expect(await itAdmin.textContent('h1')).toBe('This setup link was revoked or has expired');
    expect((await itAdmin.context().cookies()).some((c) => c.name === 'sso_setup')).toBe(false);
    await shot(itAdmin, 'revoked');
    expect(pageErrors).toEqual([]);
  });
});
