import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type IdpKey, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { ManualClock } from '../../shared/ports/clock.ts';
import { runtime } from '../../shared/runtime.ts';
import * as repo from '../../shared/store/connections.ts';
import {
  AES256_CBC,
  certificatesIn,
  FIXTURES,
  type FixtureManifest,
  fixtureSp,
  freePort,
  pemOfDer,
  redirectRequest,
  samlifyIdp,
  samlifyLoginResponse,
  samlifySp,
  samlpMetadata,
  samlpResponse,
} from '../helpers/interop.ts';
import { type AcsResult, authnRequestId, postAcs, type SamlFixture } from '../helpers/saml.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Interoperability with SAML implementations written by others (issue 15, item 3): Auth0's
 * `samlp` posting IdP-initiated responses to our ACS, and `samlify` reading our SP metadata,
 * validating our signed AuthnRequest and answering it. Then the same libraries' output captured
 * as fixtures (test/fixtures/interop, scripts/interop-fixtures.ts), fed to the ACS at the time
 * they were captured.
 *
 * The captured messages are addressed to fixed SP URLs, so this stack's BASE_URL is the fixtures'
 * (https://sso.interop.test) while it listens on a local port: every request below goes to
 * `local`, every SAML URL names BASE_URL. The clock is a ManualClock: now for the live tests, the
 * capture time for the fixtures.
 */

const clock = new ManualClock();
const TENANT = 'interop-co';
let started: TestStack;
let stack: TestStack;
let local: string;

interface View {
  id: string;
  sp: { entityId: string; acsUrl: string };
  compatibility: { compatible: boolean; problems: { code: string }[]; warnings: { code: string }[] };
}

/** The admin API on the local port (stack.call would go to BASE_URL). */
async function call<T = View>(method: string, path: string, body?: unknown) {
  const res = await fetch(local + path, {
    method,
    headers: {
      authorization: `Bearer ${started.operatorToken}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as T };
}

/** A SAML connection created from IdP metadata XML, as an administrator would (JIT provisioning). */
async function connect(name: string, idpMetadataXml: string, saml: Record<string, unknown> = {}) {
  const res = await call('POST', `/admin/tenants/${TENANT}/connections`, {
    type: 'saml',
    name,
    saml: { idpMetadataXml, ...saml },
    provisioning: { mode: 'jit' },
  });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const spMetadataOf = async (connectionId: string) => {
  const res = await fetch(`${local}/saml/${connectionId}/metadata.xml`);
  expect(res.status).toBe(200);
  return res.text();
};

/** The shape test/helpers/saml.ts's postAcs takes, pointed at the local port. */
const target = (view: View, key: IdpKey): SamlFixture => ({
  stack,
  tenantId: TENANT,
  connectionId: view.id,
  entityId: view.sp.entityId,
  acsUrl: view.sp.acsUrl,
  key,
  rotated: key,
  attacker: key,
});

const accepted = (out: AcsResult, email: string) => {
  expect(out.status, JSON.stringify(out.body)).toBe(200);
  expect(out.email).toBe(email);
};

beforeAll(async () => {
  const port = await freePort();
  started = await startTestStack({ clock, port, baseUrl: FIXTURES.baseUrl });
  local = `http://127.0.0.1:${port}`;
  stack = { ...started, url: local };
  const t = await call('POST', '/admin/tenants', {
    id: TENANT,
    name: 'Interop',
    settings: { appUrl: 'https://app.interop.test/home' },
  });
  expect(t.status, t.text).toBe(201);
});
afterAll(async () => {
  await started?.close();
});
// samlp and samlify stamp their messages with the real time.
beforeEach(() => clock.set(Date.now()));

describe('our SP metadata, read by samlify', () => {
  let view: View;
  beforeAll(async () => {
    const idpKey = makeIdpKey();
    view = await connect(
      'Metadata',
      samlifyIdp({
        entityId: 'urn:interop:md-idp',
        ssoUrl: 'https://md.idp.test/sso',
        key: idpKey,
      }).getMetadata(),
    );
  });

  it('a new connection publishes SP signing and encryption certificates by default (issue 15 item 1)', async () => {
    const xml = await spMetadataOf(view.id);
    expect(certificatesIn(xml, 'signing').length, 'no use="signing" certificate').toBeGreaterThan(0);
    expect(certificatesIn(xml, 'encryption').length, 'no use="encryption" certificate').toBeGreaterThan(0);
  });

  it('parses: entityID, ACS, both certificates, signed requests and signed assertions', async () => {
    const xml = await spMetadataOf(view.id);
    const sp = samlifySp(xml);
    expect(sp.entityMeta.getEntityID()).toBe(view.sp.entityId);
    expect(sp.entityMeta.getAssertionConsumerService('post')).toBe(view.sp.acsUrl);
    const flat = (v: string | string[]) => [v].flat().map((c) => c.replace(/\s+/g, ''));
    expect(flat(sp.entityMeta.getX509Certificate('signing'))).toEqual(certificatesIn(xml, 'signing'));
    expect(flat(sp.entityMeta.getX509Certificate('encryption'))).toEqual(certificatesIn(xml, 'encryption'));
    expect(sp.entityMeta.isAuthnRequestSigned()).toBe(true);
    expect(sp.entityMeta.isWantAssertionsSigned()).toBe(true);
  });
});

describe('Auth0 samlp: IdP-initiated responses from getSamlResponse', () => {
  const ENTITY = 'urn:interop:samlp-live';
  const key = makeIdpKey({ cn: 'samlp live IdP' });
  let view: View;
  let f: SamlFixture;
  let spCertPem: string;
  const response = (email: string, extra: Partial<Parameters<typeof samlpResponse>[0]> = {}) =>
    samlpResponse({ issuer: ENTITY, key, acsUrl: f.acsUrl, audience: f.entityId, email, ...extra });

  beforeAll(async () => {
    // The connection is made from samlp's own metadata (its metadata middleware).
    view = await connect(
      'samlp',
      samlpMetadata({
        issuer: ENTITY,
        certPem: key.certPem,
        origin: 'https://samlp.idp.test',
        ssoPath: '/sso',
      }),
    );
    f = target(view, key);
    const [der] = certificatesIn(await spMetadataOf(view.id), 'encryption');
    spCertPem = pemOfDer(der ?? '');
  });

  it('imports samlp’s metadata as compatible', () => {
    expect(view.compatibility).toMatchObject({ compatible: true, problems: [] });
  });

  it('accepts its default: the assertion signed', async () => {
    const xml = await response('samlp.a@interop.test');
    expect(xml.match(/<Signature /g)).toHaveLength(1);
    accepted(await postAcs(f, xml), 'samlp.a@interop.test');
  });

  it('accepts the response and the assertion signed', async () => {
    const xml = await response('samlp.b@interop.test', { signResponse: true });
    expect(xml.match(/<Signature /g)).toHaveLength(2);
    accepted(await postAcs(f, xml), 'samlp.b@interop.test');
  });

  it('accepts the assertion encrypted (RSA-OAEP + AES-256-GCM) to the certificate in our SP metadata', async () => {
    // samlp's default: only the assertion signed, its signature inside the encryption (the
    // fixture samlp-response-encrypted.xml has the Response signed as well).
    const xml = await response('samlp.c@interop.test', { encryptionCertPem: spCertPem });
    expect(xml).toContain('EncryptedAssertion');
    expect(xml).not.toContain('<Signature ');
    expect(xml).toContain('http://www.w3.org/2009/xmlenc11#aes256-gcm');
    expect(xml).toContain('http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p');
    accepted(await postAcs(f, xml), 'samlp.c@interop.test');
  });

  it('refuses an assertion encrypted with AES-CBC (weak_algorithm)', async () => {
    const xml = await response('samlp.d@interop.test', {
      signResponse: true,
      encryptionCertPem: spCertPem,
      encryptionAlgorithm: AES256_CBC,
    });
    expect(xml).toContain(AES256_CBC);
    expect(await postAcs(f, xml)).toMatchObject({ status: 400, code: 'weak_algorithm' });
  });

  it('refuses a samlp response signed with a key the metadata does not list', async () => {
    const xml = await samlpResponse({
      issuer: ENTITY,
      key: makeIdpKey({ cn: 'not the IdP' }),
      acsUrl: f.acsUrl,
      audience: f.entityId,
      email: 'samlp.e@interop.test',
    });
    expect(await postAcs(f, xml)).toMatchObject({ status: 400, code: 'invalid_signature' });
  });
});

describe('samlify: its metadata imported, our AuthnRequest validated and answered (SP-initiated)', () => {
  const key = makeIdpKey({ cn: 'samlify live IdP' });
  const idp = samlifyIdp({
    entityId: 'urn:interop:samlify-live',
    ssoUrl: 'https://samlify.idp.test/sso',
    key,
  });
  let view: View;
  let f: SamlFixture;
  let sp: ReturnType<typeof samlifySp>;
  const login = async () => {
    const res = await fetch(`${local}/saml/${view.id}/login`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    return res.headers.get('location') ?? '';
  };

  beforeAll(async () => {
    view = await connect('samlify', idp.getMetadata());
    f = target(view, key);
    sp = samlifySp(await spMetadataOf(view.id));
  });

  it('imports samlify’s IdP metadata as compatible, with no problem', () => {
    expect(view.compatibility.compatible).toBe(true);
    expect(view.compatibility.problems).toEqual([]);
  });

  it('samlify parses our AuthnRequest and validates its redirect-binding signature', async () => {
    const location = await login();
    expect(location.startsWith('https://samlify.idp.test/sso?')).toBe(true);
    // samlify checks the signature because its metadata says WantAuthnRequestsSigned="true".
    expect(idp.entityMeta.isWantAuthnRequestsSigned()).toBe(true);
    const parsed = await idp.parseLoginRequest(sp, 'redirect', redirectRequest(location));
    expect(parsed.sigAlg).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(parsed.extract.request).toMatchObject({
      id: authnRequestId(location),
      assertionConsumerServiceUrl: view.sp.acsUrl,
    });
    expect(parsed.extract.issuer).toBe(view.sp.entityId);
  });

  it('samlify refuses our AuthnRequest with another request’s signature (it really checks)', async () => {
    const one = redirectRequest(await login());
    const two = redirectRequest(await login());
    const swapped = { ...one, query: { ...one.query, Signature: two.query.Signature } };
    await expect(idp.parseLoginRequest(sp, 'redirect', swapped)).rejects.toThrow(
      'ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION',
    );
  });

  it('accepts samlify’s answer to our request, InResponseTo matching, once', async () => {
    const location = await login();
    const parsed = await idp.parseLoginRequest(sp, 'redirect', redirectRequest(location));
    const { xml } = await samlifyLoginResponse(idp, sp, 'samlify.a@interop.test', parsed);
    expect(xml).toContain(`InResponseTo="${authnRequestId(location)}"`);
    accepted(await postAcs(f, xml), 'samlify.a@interop.test');
    // The request is spent: the same answer again is refused.
    expect(await postAcs(f, xml)).toMatchObject({ status: 400, code: 'unknown_request' });
  });

  it('accepts samlify IdP-initiated (its InResponseTo="" is no request)', async () => {
    const { xml } = await samlifyLoginResponse(idp, sp, 'samlify.b@interop.test');
    expect(xml).toContain('InResponseTo=""');
    accepted(await postAcs(f, xml), 'samlify.b@interop.test');
  });
});

describe('captured fixtures (test/fixtures/interop), at the time they were captured', () => {
  const read = (name: string) => readFileSync(new URL(name, FIXTURES.dir), 'utf8');
  const manifest = JSON.parse(read('manifest.json')) as FixtureManifest;
  const capturedAt = Date.parse(manifest.capturedAt);
  const idpKey: IdpKey = {
    keyPem: read('TEST-ONLY-idp.key.pem'),
    certPem: read('TEST-ONLY-idp.crt.pem'),
    certDer: read('TEST-ONLY-idp.crt.pem').replace(/-----[^-]+-----|\s+/g, ''),
  };
  let samlpConn: SamlFixture;
  let samlifyConn: SamlFixture;
  const views: Record<string, View> = {};

  /**
   * The fixtures name fixed connection IDs: the connection is created through the admin API, then
   * its stored item is copied under the fixture's ID (the API picks IDs itself).
   */
  async function installAt(fixedId: string, name: string, metadataXml: string, saml = {}) {
    const view = await connect(name, metadataXml, saml);
    views[name] = view;
    const rt = runtime();
    const stored = await repo.getConnection(rt.db, TENANT, view.id);
    if (!stored) throw new Error('the connection was not stored');
    await repo.createConnection(rt.db, { ...stored, id: fixedId });
    const sp = fixtureSp(fixedId);
    return target({ ...view, id: fixedId, sp }, idpKey);
  }

  beforeEach(() => clock.set(capturedAt + 5_000));
  beforeAll(async () => {
    clock.set(capturedAt + 5_000);
    samlpConn = await installAt(
      FIXTURES.samlp.connectionId,
      'samlp fixture',
      read('samlp-idp-metadata.xml'),
      {
        // The SP key the encrypted fixture was encrypted to (uploading one's own key stays possible).
        spPrivateKeyPem: read('TEST-ONLY-sp.key.pem'),
        spCertificatePem: read('TEST-ONLY-sp.crt.pem'),
      },
    );
    samlifyConn = await installAt(
      FIXTURES.samlify.connectionId,
      'samlify fixture',
      read('samlify-idp-metadata.xml'),
    );
  });

  it('imports the captured IdP metadata of both as compatible', () => {
    expect(views['samlp fixture']?.compatibility).toMatchObject({ compatible: true, problems: [] });
    expect(views['samlify fixture']?.compatibility).toMatchObject({ compatible: true, problems: [] });
  });

  it('samlp-response.xml: a tampered copy and a late one are refused, the original accepted once', async () => {
    const xml = read('samlp-response.xml');
    const tampered = xml.replaceAll(FIXTURES.samlp.email, 'admin@interop.test');
    expect(tampered).not.toBe(xml);
    expect(await postAcs(samlpConn, tampered)).toMatchObject({ status: 400, code: 'invalid_signature' });
    clock.advance(3600);
    expect(await postAcs(samlpConn, xml)).toMatchObject({ status: 400, code: 'expired' });
    clock.set(capturedAt + 5_000);
    accepted(await postAcs(samlpConn, xml), FIXTURES.samlp.email);
    expect(await postAcs(samlpConn, xml)).toMatchObject({ status: 400, code: 'replayed_assertion' });
  });

  it('samlp-response-encrypted.xml: decrypted with the SP key, accepted; a tampered ciphertext refused', async () => {
    const xml = read('samlp-response-encrypted.xml');
    // Flip one character of the assertion's ciphertext (the last CipherValue). The Response
    // signature covers it and is verified before anything is decrypted: our key never works on
    // ciphertext the IdP did not sign.
    const values = [...xml.matchAll(/<xenc:CipherValue>([^<]+)</g)];
    const last = values.at(-1);
    if (!last?.index) throw new Error('no CipherValue in the fixture');
    const at = last.index + '<xenc:CipherValue>'.length + 10;
    const tampered = xml.slice(0, at) + (xml[at] === 'A' ? 'B' : 'A') + xml.slice(at + 1);
    const refused = await postAcs(samlpConn, tampered);
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('invalid_signature');
    accepted(await postAcs(samlpConn, xml), FIXTURES.samlp.encryptedEmail);
  });

  it('samlify-response.xml: a tampered copy refused, the original accepted', async () => {
    const xml = read('samlify-response.xml');
    const tampered = xml.replaceAll(FIXTURES.samlify.email, 'admin@interop.test');
    expect(await postAcs(samlifyConn, tampered)).toMatchObject({ status: 400, code: 'invalid_signature' });
    accepted(await postAcs(samlifyConn, xml), FIXTURES.samlify.email);
  });
});
