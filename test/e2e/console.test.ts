import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  autoPostForm,
  buildResponse,
  idpMetadata,
  makeIdpKey,
  signResponse,
} from '../../local/demo/saml-idp.ts';
import { launchChromium } from '../helpers/browser.ts';
import { BASE_DN, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The console in Chromium, as a tenant owner sets up single sign-on: signed in on the hosted page,
 * a SAML connection from the IdP's metadata file (SP values copied off the page, the report seen,
 * then enabled) through which an IdP-initiated login signs someone in; an LDAP directory tested
 * and one of its groups imported and mapped; a user invited and given a role; an API token
 * created and revoked. Each page is screenshot into test-results/console-*.png.
 */
const TENANT = 'acme-console';
const OWNER = { email: 'owner@acme-console.test', password: 'Owner-passw0rd-long!' };
const IDP_ENTITY = 'https://idp.acme-console.test/metadata';

let stack: TestStack;
let slapd: Slapd;
let browser: Browser;
let owner: Page;
let scratch: string;
const contexts: BrowserContext[] = [];
const idpKey = makeIdpKey({ cn: 'Acme IdP' });
const sp = { entityId: '', acsUrl: '', metadataUrl: '' };
const consoleErrors: string[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'console-e2e-'));
  mkdirSync('test-results', { recursive: true });
  [stack, slapd, browser] = await Promise.all([startTestStack(), startSlapd(), launchChromium()]);
  const t = await stack.call('POST', '/admin/tenants', { body: { id: TENANT, name: 'Acme Console Inc.' } });
  if (t.status !== 201) throw new Error(t.text);
  const u = await stack.call('POST', `/admin/tenants/${TENANT}/users`, { body: { ...OWNER, role: 'owner' } });
  if (u.status !== 201) throw new Error(u.text);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  contexts.push(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
  owner = await context.newPage();
  owner.setDefaultTimeout(10_000);
  owner.on('console', (m) => {
    // The browser's own favicon request is not the page's.
    if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) consoleErrors.push(m.text());
  });
}, 90_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await Promise.all([stack?.close(), slapd?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: `test-results/console-${name}.png`, fullPage: true });
const flash = (page: Page) => page.textContent('#flash');
const base = () => `${stack.url}/console/${TENANT}`;

describe('the console in Chromium', () => {
  it('signs the owner in on the hosted page and opens the console at the settings', async () => {
    await owner.goto(`${stack.url}/console`);
    await owner.fill('#tenant', TENANT);
    await Promise.all([
      owner.waitForURL(/\/t\/acme-console\/login\?redirect=/),
      owner.click('button[type=submit]'),
    ]);
    await owner.fill('input[name=email]', OWNER.email);
    await owner.fill('input[name=password]', OWNER.password);
    // The sign-in comes back to the console page that sent the owner to it.
    await Promise.all([owner.waitForURL(`${base()}/settings`), owner.click('#password-form button')]);
    expect(await owner.textContent('#who-email')).toBe(OWNER.email);
    expect(await owner.textContent('#who-role')).toBe('owner');
    expect(await owner.getAttribute('nav a[aria-current=page]', 'href')).toBe(`/console/${TENANT}/settings`);

    await owner.fill('input[name=sessionMinutes]', '120');
    await owner.fill('input[name=appUrl]', 'https://app.acme-console.test/');
    await Promise.all([
      owner.waitForURL(/done=settings-saved/),
      owner.click('#settings-form button[type=submit]'),
    ]);
    expect(await flash(owner)).toBe('Settings saved.');
    await shot(owner, 'settings');
    const tenant = await stack.call<{ settings: { sessionTtlSeconds: number; appUrl: string } }>(
      'GET',
      `/admin/tenants/${TENANT}`,
    );
    expect(tenant.body.settings).toMatchObject({
      sessionTtlSeconds: 7200,
      appUrl: 'https://app.acme-console.test/',
    });
  });

  it('creates a SAML connection from the IdP’s metadata file, shows the report and the SP values, enables it', async () => {
    await owner.goto(`${base()}/connections`);
    await shot(owner, 'connections-empty');
    await Promise.all([owner.waitForURL(/connections\/new\?type=saml/), owner.click('#new-saml')]);
    await owner.fill('#connection-name', 'Acme IdP');
    // The file input reads the file into the textarea (the page's one script, allowed by its hash).
    const file = join(scratch, 'idp-metadata.xml');
    const metadata = idpMetadata(IDP_ENTITY, [idpKey.certDer], 'https://idp.acme-console.test/sso');
    writeFileSync(file, metadata);
    await owner.setInputFiles('#idp-metadata-file', file);
    await owner.waitForFunction(
      () => (document.getElementById('idp-metadata-xml') as HTMLTextAreaElement).value !== '',
    );
    expect(await owner.inputValue('#idp-metadata-xml')).toBe(metadata);
    await owner.fill('input[name=groupsAttribute]', 'groups');
    await shot(owner, 'saml-new');
    await Promise.all([owner.waitForURL(/done=connection-checked/), owner.click('#check')]);

    expect(await owner.getAttribute('#compatibility', 'data-compatible')).toBe('true');
    expect(await owner.isVisible('#disabled-note')).toBe(true);
    sp.entityId = await owner.inputValue('#sp-entity-id');
    sp.acsUrl = await owner.inputValue('#sp-acs-url');
    sp.metadataUrl = await owner.inputValue('#sp-metadata-url');
    expect(sp.acsUrl).toMatch(new RegExp(`^${stack.url}/saml/[0-9a-f-]{36}/acs$`));
    expect(sp.entityId).toBe(sp.metadataUrl);
    // The copy button puts the value on the clipboard.
    await owner.click('button[data-copy=sp-acs-url]');
    await owner.waitForFunction(() => document.getElementById('copy-status')?.textContent !== '');
    expect(await owner.evaluate(() => navigator.clipboard.readText())).toBe(sp.acsUrl);
    await shot(owner, 'saml-connection');

    await Promise.all([owner.waitForURL(/done=connection-enabled/), owner.click('#disabled-note #enable')]);
    expect(await flash(owner)).toContain('Connection enabled');
    expect(await owner.isVisible('#disabled-note')).toBe(false);
    // Enabled, its SP metadata link serves what an identity provider imports.
    const spMetadata = await (
      await fetch((await owner.getAttribute('#sp-metadata-download', 'href')) ?? '')
    ).text();
    expect(spMetadata).toContain(sp.acsUrl);
  });

  it('signs a person in through that connection, IdP-initiated', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const xml = signResponse(
      buildResponse({
        issuer: IDP_ENTITY,
        destination: sp.acsUrl,
        recipient: sp.acsUrl,
        audiences: [sp.entityId],
        nameId: 'pat@acme-console.test',
        attributes: { firstName: 'Pat', lastName: 'Doe', groups: ['staff'] },
      }),
      idpKey,
      'both',
    );
    // The IdP's auto-posting page: its form goes to the ACS, which lands at appUrl (not served here).
    await page.setContent(autoPostForm(sp.acsUrl, xml));
    const sessionCookie = async () =>
      (await context.cookies(stack.url)).find((c) => c.name === 'sso_session')?.value;
    await expect.poll(sessionCookie, { timeout: 10_000 }).toBeTruthy();
    const cookie = { value: await sessionCookie() };
    const session = await stack.call<{ session: { email: string; amr: string[]; tid: string } }>(
      'GET',
      '/session',
      {
        token: cookie?.value ?? '',
      },
    );
    expect(session.body.session).toMatchObject({
      email: 'pat@acme-console.test',
      amr: ['saml'],
      tid: TENANT,
    });
  });

  it('creates a group, then an LDAP connection: tests it live and imports a directory group mapped to the group', async () => {
    await owner.goto(`${base()}/groups`);
    await owner.fill('#group-name', 'Engineering');
    await Promise.all([owner.waitForURL(/done=group-created/), owner.click('#create-group')]);

    await owner.goto(`${base()}/connections/new?type=ldap`);
    await owner.fill('#connection-name', 'Acme directory');
    await owner.fill('#ldap-url', slapd.ldapsUrl);
    await owner.fill('#ldap-ca', slapd.caPem);
    await owner.fill('#ldap-base-dn', BASE_DN);
    await owner.fill('#ldap-service-dn', SVC.dn);
    await owner.fill('#service-account-password', SVC.password);
    await owner.check('input[name=groupMode][value=search]');
    await owner.fill('#ldap-group-base-dn', `ou=groups,${BASE_DN}`);
    await shot(owner, 'ldap-new');
    await Promise.all([owner.waitForURL(/done=connection-checked/), owner.click('#check')]);
    expect(await owner.inputValue('#service-account-password')).toBe('');
    expect(await owner.content()).not.toContain(SVC.password);

    await Promise.all([owner.waitForLoadState('load'), owner.click('#report #test')]);
    await owner.waitForSelector('#test-result');
    expect(await owner.getAttribute('#test-compatibility', 'data-compatible')).toBe('true');
    expect(await owner.textContent('#test-result')).toContain('service_account');
    await shot(owner, 'ldap-tested');

    await owner.fill('#group-query', 'eng');
    await Promise.all([owner.waitForURL(/q=eng/), owner.click('#group-search')]);
    const row = owner.locator('tr[data-group=engineering]');
    await row.locator('select[name=groupId]').selectOption({ label: 'Engineering' });
    await row.locator('select[name=accessLevel]').selectOption('administrator');
    await shot(owner, 'ldap-groups');
    await Promise.all([owner.waitForURL(/done=group-imported/), row.locator('button[data-import]').click()]);
    expect(await owner.textContent('#connection-xroles')).toContain('engineering');

    await owner.goto(`${base()}/groups`);
    expect(await owner.textContent('tr[data-group=Engineering]')).toContain('engineering → administrator');
    await shot(owner, 'groups');
  });

  it('creates an OIDC connection: the redirect URI to register, the client secret only said to be set', async () => {
    await owner.goto(`${base()}/connections/new?type=oidc`);
    await owner.fill('#connection-name', 'Acme OP');
    await owner.fill('input[name=issuer]', 'https://op.acme-console.test');
    await owner.click('details summary');
    await owner.fill('input[name=authorizationEndpoint]', 'https://op.acme-console.test/authorize');
    await owner.fill('input[name=tokenEndpoint]', 'https://op.acme-console.test/token');
    await owner.fill('input[name=jwksUri]', 'https://op.acme-console.test/jwks');
    await owner.fill('input[name=clientId]', 'acme-client');
    await owner.fill('#client-secret', 'acme-client-secret-0123456789');
    await shot(owner, 'oidc-new');
    await Promise.all([owner.waitForURL(/done=connection-checked/), owner.click('#check')]);
    expect(await owner.inputValue('#sp-redirect-uri')).toMatch(/\/oidc\/[0-9a-f-]{36}\/callback$/);
    expect(await owner.content()).not.toContain('acme-client-secret-0123456789');
    expect(await owner.textContent('label[for=client-secret]')).toContain('set');
    await shot(owner, 'oidc-connection');
  });

  it('shows an auditor every page read-only', async () => {
    const added = await stack.call('POST', `/admin/tenants/${TENANT}/users`, {
      body: { email: 'audrey@acme-console.test', role: 'auditor', password: OWNER.password },
    });
    expect(added.status).toBe(201);
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // A console page sends her to sign in, and the sign-in brings her back to it.
    await page.goto(`${base()}/settings`);
    await page.waitForURL(/\/t\/acme-console\/login\?redirect=/);
    await page.fill('input[name=email]', 'audrey@acme-console.test');
    await page.fill('input[name=password]', OWNER.password);
    await Promise.all([page.waitForURL(`${base()}/settings`), page.click('#password-form button')]);
    expect(await page.textContent('#who-role')).toBe('auditor');
    expect(await page.isVisible('#read-only')).toBe(true);
    expect(await page.isDisabled('#settings-form button[type=submit]')).toBe(true);
    await shot(page, 'auditor-settings');
  });

  it('invites a user and changes their role', async () => {
    await owner.goto(`${base()}/users`);
    await owner.fill('#invite-email', 'sam@acme-console.test');
    await owner.selectOption('#invite-role', 'admin');
    await Promise.all([owner.waitForURL(/done=user-invited/), owner.click('#invite')]);
    expect(await flash(owner)).toBe('Invitation sent.');
    expect(stack.mail.lastTo('sam@acme-console.test')?.text).toContain('/login/reset?token=');
    const row = owner.locator('tr[data-user="sam@acme-console.test"]');
    expect(await row.locator('.status').textContent()).toBe('invited');
    await row.locator('select[name=role]').selectOption('auditor');
    await Promise.all([owner.waitForURL(/done=user-saved/), row.locator('.role button').click()]);
    expect(await owner.locator('tr[data-user="sam@acme-console.test"] select[name=role]').inputValue()).toBe(
      'auditor',
    );
    await shot(owner, 'users');
  });

  it('creates an API token, shows its secret once, and revokes it', async () => {
    await owner.goto(`${base()}/tokens`);
    await owner.fill('#token-name', 'deploy script');
    await owner.fill('#token-days', '30');
    await Promise.all([owner.waitForLoadState('load'), owner.click('#create-token')]);
    await owner.waitForSelector('#new-token');
    const secret = await owner.inputValue('#token-secret');
    expect(secret).toMatch(/^sso_[A-Za-z0-9_-]{43}$/);
    expect((await stack.call('GET', '/session', { token: secret })).status).toBe(200);
    await shot(owner, 'token-created');
    await owner.goto(`${base()}/tokens`);
    expect(await owner.content()).not.toContain(secret);
    await Promise.all([
      owner.waitForURL(/done=token-revoked/),
      owner.click('button[data-revoke="deploy script"]'),
    ]);
    expect(await owner.isVisible('#no-tokens')).toBe(true);
    expect((await stack.call('GET', '/session', { token: secret })).status).toBe(401);
  });

  it('shows the audit trail of all this, and fits a phone', async () => {
    await owner.goto(`${base()}/audit`);
    const types = await owner
      .locator('#audit tr[data-type]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type')));
    expect(types).toEqual(expect.arrayContaining(['connection.created', 'invitation.sent', 'token.revoked']));
    await shot(owner, 'audit');
    await owner.setViewportSize({ width: 390, height: 844 });
    await owner.goto(`${base()}/users`);
    // Nothing wider than the screen: the tables stack.
    expect(await owner.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(owner, 'mobile-users');
    await owner.goto(`${base()}/connections`);
    await shot(owner, 'mobile-connections');
    expect(await owner.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await owner.click('#connections a:has-text("Acme IdP")');
    await owner.waitForSelector('#sp-details');
    await shot(owner, 'mobile-saml-connection');
    expect(await owner.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
  });
});
