import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack({ demo: true });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('SAML in Chromium, as a person does it', () => {
  it('IdP-initiated: portal tile → auto-post to the ACS → appUrl with the session cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/demo/idp`);
    await Promise.all([
      page.waitForURL(`${stack.url}/t/demo/login`),
      page.click('a.tile:has-text("Ada Lovelace")'),
    ]);
    await page.waitForSelector('#signed-in');
    expect(await page.textContent('#signed-in')).toContain('ada@demo.test');
    const cookie = (await context.cookies()).find((c) => c.name === 'sso_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
    const session = await stack.call<{ session: { amr: string[]; email: string } }>('GET', '/session', {
      token: cookie?.value ?? '',
    });
    expect(session.body.session).toMatchObject({ amr: ['saml'], email: 'ada@demo.test' });
    await page.screenshot({ path: 'test-results/saml-idp-initiated.png' });
    await context.close();
  });

  it('SP-initiated: the hosted page’s SSO button → IdP → ACS → signed in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/t/demo/login`);
    await Promise.all([page.waitForURL(/\/demo\/idp\/sso\?/), page.click('a.sso')]);
    await Promise.all([
      page.waitForURL(`${stack.url}/t/demo/login`),
      page.click('a.tile:has-text("Grace Hopper")'),
    ]);
    await page.waitForSelector('#signed-in');
    expect(await page.textContent('#signed-in')).toContain('grace@demo.test');
    await context.close();
  });
});
