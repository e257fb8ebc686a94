import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The README's way into the console with `npm start`: open /console, give the demo tenant's id,
 * sign in as the demo owner with the password printed at start-up (on the hosted page's form,
 * the demo directory's when slapd runs, as with `npm start`), and land back on the demo tenant's
 * settings.
 */
let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startTestStack({ demo: { ldap: true } }), launchChromium()]);
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the console with the demo', () => {
  it('opens for the demo owner, signed in with the password printed at start-up', async () => {
    const owner = stack.demo?.owner;
    expect(owner?.email).toBe('owner@demo.test');
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${stack.url}/console`);
    await page.fill('#tenant', 'demo');
    await Promise.all([page.waitForURL(/\/t\/demo\/login\?redirect=/), page.click('button[type=submit]')]);
    await page.fill('input[name=email]', owner?.email ?? '');
    await page.fill('input[name=password]', owner?.password ?? '');
    await Promise.all([
      page.waitForURL(`${stack.url}/console/demo/settings`),
      page.click('#password-form button'),
    ]);
    expect(await page.textContent('#who-email')).toBe('owner@demo.test');
    expect(await page.textContent('#who-role')).toBe('owner');
    await page.click('nav a:has-text("Connections")');
    expect(await page.textContent('#connections')).toContain('Demo SAML IdP');
    await page.screenshot({ path: 'test-results/console-demo-connections.png', fullPage: true });
    await context.close();
  });
});
