import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let browser: Browser;
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  stack = await startTestStack();
  browser = await launchChromium();
  // The app lands back on the hosted page, which shows who is signed in.
  const tenant = await stack.call('POST', '/admin/tenants', {
    body: { id: 'e2e-co', name: 'E2E Company', settings: { appUrl: `${stack.url}/t/e2e-co/login` } },
  });
  expect(tenant.status).toBe(201);
  const user = await stack.call('POST', '/admin/tenants/e2e-co/users', {
    body: { email: 'person@e2e.test', role: 'member', password: PASSWORD, firstName: 'Pat' },
  });
  expect(user.status).toBe(201);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the hosted login page in Chromium', () => {
  it('signs a person in with email and password and lands on appUrl with the session cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/t/e2e-co/login`);
    expect(await page.title()).toBe('Sign in to E2E Company');
    await page.fill('input[name=email]', 'person@e2e.test');
    await page.fill('input[name=password]', PASSWORD);
    await Promise.all([page.waitForURL(`${stack.url}/t/e2e-co/login`), page.click('button[type=submit]')]);
    await page.waitForSelector('#signed-in');
    expect(await page.textContent('#signed-in')).toContain('person@e2e.test');
    const cookie = (await context.cookies()).find((c) => c.name === 'sso_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    await page.screenshot({ path: 'test-results/login-signed-in.png' });

    // Signing out from the page ends the session.
    await Promise.all([page.waitForURL(`${stack.url}/t/e2e-co/login`), page.click('#signed-in button')]);
    expect(await page.locator('#signed-in').count()).toBe(0);
    expect((await context.cookies()).find((c) => c.name === 'sso_session')).toBeUndefined();
    await context.close();
  });

  it('shows a wrong password as an error page with its code and trace id', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/t/e2e-co/login`);
    await page.fill('input[name=email]', 'person@e2e.test');
    await page.fill('input[name=password]', 'not the right one');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    await page.waitForSelector('#error-code');
    expect(await page.textContent('#error-code')).toBe('invalid_credentials');
    expect(await page.textContent('#trace-id')).toMatch(/^[0-9a-f-]{36}$/);
    await page.screenshot({ path: 'test-results/login-error.png' });
    await context.close();
  });

  it('refuses a cross-site form post without the page’s CSRF token', async () => {
    const res = await fetch(`${stack.url}/login/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({
        tenantId: 'e2e-co',
        email: 'person@e2e.test',
        password: PASSWORD,
      }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('csrf_failed');
  });
});
