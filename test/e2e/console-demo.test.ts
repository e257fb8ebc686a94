import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The README's way into the console with `npm start`: the demo seeds no owner, so the operator
 * makes Grace the demo tenant's owner, she signs in with the demo SAML IdP's tile, and /console
 * opens on the demo tenant's settings, as an SSO-only person.
 */
let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startTestStack({ demo: true }), launchChromium()]);
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the console with the demo', () => {
  it('opens for Grace once the operator made her the demo tenant’s owner and she signed in with SAML', async () => {
    const added = await stack.call('POST', '/admin/tenants/demo/users', {
      body: { email: 'grace@demo.test', role: 'owner' },
    });
    expect(added.status, added.text).toBe(201);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${stack.url}/demo/idp`);
    await Promise.all([
      page.waitForURL(`${stack.url}/t/demo/login`),
      page.click('a.tile:has-text("Grace Hopper")'),
    ]);
    await page.goto(`${stack.url}/console`);
    await page.waitForURL(`${stack.url}/console/demo/settings`);
    expect(await page.textContent('#who-email')).toBe('grace@demo.test');
    expect(await page.textContent('#who-role')).toBe('owner');
    await page.click('nav a:has-text("Connections")');
    expect(await page.textContent('#connections')).toContain('Demo SAML IdP');
    await page.screenshot({ path: 'test-results/console-demo-connections.png', fullPage: true });
    await context.close();
  });
});
