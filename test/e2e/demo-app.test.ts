import { existsSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLAPD } from '../../local/demo/ldap.ts';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The whole demo as `npm start` serves it, clicked through in Chromium: each way in on the demo
 * IdP page (SAML IdP-initiated, OIDC third-party-initiated, LDAP on the hosted page) lands signed
 * in on the demo application, which got its ID token from the service's OpenID Provider.
 */
let stack: TestStack;
let browser: Browser;
let appUrl: string;

beforeAll(async () => {
  stack = await startTestStack({ demo: { oidc: true, ldap: true, app: { port: 0 } } });
  appUrl = stack.demo?.appUrl ?? '';
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const contexts: BrowserContext[] = [];
afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
});
/** What Chromium said went wrong on each page (a blocked form submission, say). */
const consoleErrors = new WeakMap<Page, string[]>();
async function newPage(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  // Each step takes well under a second; a stuck one should fail with its own message.
  page.setDefaultTimeout(10_000);
  page.on('console', (message) => {
    if (message.type() === 'error')
      consoleErrors.set(page, [...(consoleErrors.get(page) ?? []), message.text()]);
  });
  return page;
}

/** Waits for the demo application's signed-in page and reads what it shows. */
async function signedIn(page: Page) {
  try {
    await page.waitForURL((url) => url.origin === appUrl && url.pathname === '/');
    await page.waitForSelector('#signed-in', { timeout: 2000 });
  } catch (error) {
    // Where it stopped says more than a timeout: an error page of the service, say.
    const text = (await page.textContent('body').catch(() => ''))?.replace(/\s+/g, ' ').slice(0, 400);
    const said = (consoleErrors.get(page) ?? []).join(' | ');
    throw new Error(
      `not signed in on the demo application; stopped at ${page.url()}: ${text}${said ? `; console: ${said}` : ''}`,
      { cause: error },
    );
  }
  return {
    name: await page.textContent('#name'),
    email: await page.textContent('#email'),
    tenant: await page.textContent('#tenant'),
    role: await page.textContent('#role'),
    groups: await page.textContent('#groups'),
    amr: (await page.locator('#amr').count()) ? await page.textContent('#amr') : undefined,
  };
}

describe('the demo application, through each demo identity provider', () => {
  it('runs on another origin than the service, and is the demo tenant’s default application', async () => {
    expect(new URL(appUrl).hostname).toBe('127.0.0.1');
    expect(new URL(stack.url).hostname).toBe('localhost');
    const tenant = await stack.call<{ settings: { defaultApplication?: string } }>(
      'GET',
      '/admin/tenants/demo',
    );
    const apps = await stack.call<{ items: { clientId: string; name: string; initiateLoginUri?: string }[] }>(
      'GET',
      '/admin/applications',
    );
    const app = apps.body.items.find((a) => a.name === 'Demo application');
    expect(app?.initiateLoginUri).toBe(`${appUrl}/login`);
    expect(tenant.body.settings.defaultApplication).toBe(app?.clientId);
  });

  it('SAML tile (IdP-initiated) → the service → the demo application, signed in as Ada', async () => {
    const page = await newPage();
    await page.goto(`${stack.url}/demo/idp`);
    await page.click('a.tile[data-method="saml"]:has-text("Ada Lovelace")');
    const shown = await signedIn(page);
    expect(shown).toMatchObject({ name: 'Ada Lovelace', tenant: 'demo', role: 'member', amr: 'saml' });
    expect(shown.email).toContain('ada@demo.test');
    expect(shown.groups).toContain('Engineering');
    expect(shown.groups).not.toContain('Admins');
    await page.screenshot({ path: 'test-results/demo-app-saml.png', fullPage: true });
  });

  it('OIDC tile (third-party-initiated) → the demo OpenID Provider → the service → the demo application', async () => {
    const page = await newPage();
    await page.goto(`${stack.url}/demo/idp`);
    await page.click('a.tile[data-method="oidc"]:has-text("Ada Lovelace")');
    const shown = await signedIn(page);
    expect(shown).toMatchObject({ name: 'Ada Lovelace', tenant: 'demo', role: 'member', amr: 'oidc' });
    expect(shown.groups).toContain('Engineering');
    await page.screenshot({ path: 'test-results/demo-app-oidc.png', fullPage: true });
  });

  it.runIf(existsSync(SLAPD))(
    'LDAP on the hosted login page → the demo application, as Grace with both groups',
    async () => {
      const page = await newPage();
      await page.goto(`${stack.url}/demo/idp`);
      await Promise.all([page.waitForURL(`${stack.url}/t/demo/login`), page.click('#ldap-login')]);
      await page.fill('input[name=email]', 'grace@demo.test');
      await page.fill('input[name=password]', 'demo-password');
      await page.click('#password-form button[type=submit]');
      const shown = await signedIn(page);
      expect(shown).toMatchObject({ name: 'Grace Hopper', tenant: 'demo', role: 'member', amr: 'ldap' });
      expect(shown.groups).toContain('Engineering');
      expect(shown.groups).toMatch(/Admins\s*\(administrator\)/);
      await page.screenshot({ path: 'test-results/demo-app-ldap.png', fullPage: true });
    },
  );

  it('Sign in from the application: its button → the hosted page → the OIDC IdP’s chooser → back, signed in', async () => {
    const page = await newPage();
    await page.goto(appUrl);
    await page.waitForSelector('#signed-out');
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/t/demo/login');
    await page.click(`a.sso[data-connection="${stack.demo?.oidcConnectionId}"]`);
    // No login_hint this time: the demo OpenID Provider asks who signs in.
    await page.waitForURL(/\/demo\/oidc\/interaction\//);
    await page.click('button.tile:has-text("Grace Hopper")');
    const shown = await signedIn(page);
    expect(shown).toMatchObject({ name: 'Grace Hopper', tenant: 'demo', amr: 'oidc' });
    expect(shown.groups).toMatch(/Admins\s*\(administrator\)/);
  });

  it.runIf(existsSync(SLAPD))(
    'Sign in from the application with LDAP: the hosted page’s form → back, signed in',
    async () => {
      const page = await newPage();
      await page.goto(`${appUrl}/login`);
      await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/t/demo/login');
      await page.fill('input[name=email]', 'ada@demo.test');
      await page.fill('input[name=password]', 'demo-password');
      await page.click('#password-form button[type=submit]');
      expect(await signedIn(page)).toMatchObject({ name: 'Ada Lovelace', tenant: 'demo', amr: 'ldap' });
    },
  );

  it('Sign out: RP-initiated logout at the service ends both sessions', async () => {
    const page = await newPage();
    await page.goto(`${stack.url}/demo/idp`);
    await page.click('a.tile[data-method="saml"]:has-text("Ada Lovelace")');
    await signedIn(page);
    await page.click('#sign-out');
    // The service asks before it ends its own session.
    await page.waitForURL((url) => url.origin === stack.url);
    await page.click('#logout-yes');
    await page.waitForURL((url) => url.origin === appUrl);
    await page.waitForSelector('#signed-out');
    const cookies = await page.context().cookies(stack.url);
    expect(cookies.find((c) => c.name === 'sso_session')).toBeUndefined();
    // Signing in again needs the identity provider again: the hosted page, not a silent code.
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/t/demo/login');
    await page.screenshot({ path: 'test-results/demo-app-signed-out.png', fullPage: true });
  });

  it('Back-channel logout: signing out at the service ends the application’s session too', async () => {
    const page = await newPage();
    await page.goto(`${stack.url}/demo/idp`);
    await page.click('a.tile[data-method="oidc"]:has-text("Grace Hopper")');
    await signedIn(page);
    // Logout at the service without the application: only the logout token can tell it.
    await page.goto(`${stack.url}/oauth/logout`);
    await page.click('#logout-yes');
    await page.waitForLoadState('load');
    await page.goto(appUrl);
    await page.waitForSelector('#signed-out', { timeout: 10_000 });
  });

  it('refuses a logout token that is not the service’s, and an initiate-login request from another issuer', async () => {
    const forged = await fetch(`${appUrl}/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: 'eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.' }),
    });
    expect(forged.status).toBe(400);
    const foreign = await fetch(`${appUrl}/login?iss=${encodeURIComponent('https://evil.example')}`, {
      redirect: 'manual',
    });
    expect(foreign.status).toBe(400);
  });
});
