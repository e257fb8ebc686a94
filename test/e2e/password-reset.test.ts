import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let browser: Browser;
const NEW_PASSWORD = 'my very own new password';

beforeAll(async () => {
  stack = await startTestStack();
  browser = await launchChromium();
  const tenant = await stack.call('POST', '/admin/tenants', {
    body: { id: 'reset-co', name: 'Reset Company', settings: { appUrl: `${stack.url}/t/reset-co/login` } },
  });
  expect(tenant.status).toBe(201);
  const user = await stack.call('POST', '/admin/tenants/reset-co/users', {
    body: { email: 'forgot@reset.test', role: 'member', password: 'an admin chose this one' },
  });
  expect(user.status).toBe(201);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('password reset in Chromium', () => {
  it('goes from "Forgot your password?" to the mailed link to a sign-in with the new password', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/t/reset-co/login`);
    await Promise.all([page.waitForURL(/\/login\/forgot/), page.click('#forgot')]);
    await page.fill('input[name=email]', 'forgot@reset.test');
    await Promise.all([page.waitForLoadState('load'), page.click('#forgot-form button[type=submit]')]);
    await page.waitForSelector('#sent');
    await page.screenshot({ path: 'test-results/reset-sent.png' });

    const link = stack.mail.lastTo('forgot@reset.test')?.text.match(/https?:\/\/\S+/)?.[0];
    expect(link).toBeDefined();
    await page.goto(link ?? '');
    expect(await page.textContent('#link-email')).toBe('forgot@reset.test');
    await page.screenshot({ path: 'test-results/reset-form.png' });
    await page.fill('input[name=password]', NEW_PASSWORD);
    await Promise.all([page.waitForLoadState('load'), page.click('#reset-form button[type=submit]')]);
    await page.waitForSelector('#password-set');
    await page.screenshot({ path: 'test-results/reset-done.png' });

    await Promise.all([page.waitForURL(`${stack.url}/t/reset-co/login`), page.click('main a')]);
    await page.fill('input[name=email]', 'forgot@reset.test');
    await page.fill('input[name=password]', NEW_PASSWORD);
    await Promise.all([
      page.waitForURL(`${stack.url}/t/reset-co/login`),
      page.click('#password-form button'),
    ]);
    await page.waitForSelector('#signed-in');
    expect(await page.textContent('#signed-in')).toContain('forgot@reset.test');

    // the link is spent: opening it again shows the error page with its code
    await page.goto(link ?? '');
    expect(await page.textContent('#error-code')).toBe('link_invalid');
    await context.close();
  });
});
