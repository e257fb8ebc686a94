// Regenerates test/fixtures/interop/: messages captured from SAML implementations written by others
// (Auth0's samlp, samlify), for fixed SP URLs (FIXTURES in test/helpers/interop.ts), kept like Dex's
// testdata/ so a change on our side that stops accepting them shows up even where those libraries
// change or go. test/integration/saml-interop.test.ts feeds them to the ACS with a fixed clock.
//
//   npx tsx scripts/interop-fixtures.ts            # new messages, the same keys
//   npx tsx scripts/interop-fixtures.ts --new-keys # new test-only keys as well
//
// The keys written here are TEST-ONLY, self-signed, and published in this repository: they sign
// and decrypt these fixtures and nothing else.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type IdpKey, makeIdpKey } from '../local/demo/saml-idp.ts';
import {
  FIXTURES,
  type FixtureManifest,
  fixtureSp,
  samlifyIdp,
  samlifyLoginResponse,
  samlpMetadata,
  samlpResponse,
  useSamlifyValidator,
} from '../test/helpers/interop.ts';

// Before any message is made: the test's fixed clock starts here, so every one is already valid.
const capturedAt = new Date().toISOString();
const dir = FIXTURES.dir;
mkdirSync(dir, { recursive: true });
const file = (name: string) => new URL(name, dir);
const write = (name: string, text: string) =>
  writeFileSync(file(name), text.endsWith('\n') ? text : `${text}\n`);

/** A test-only key pair: reused when present (so a regeneration does not churn them), or made. */
function testKey(name: string, cn: string): IdpKey {
  const keyFile = `TEST-ONLY-${name}.key.pem`;
  const certFile = `TEST-ONLY-${name}.crt.pem`;
  if (!process.argv.includes('--new-keys') && existsSync(file(keyFile)) && existsSync(file(certFile))) {
    const keyPem = readFileSync(file(keyFile), 'utf8');
    const certPem = readFileSync(file(certFile), 'utf8');
    return { keyPem, certPem, certDer: certPem.replace(/-----[^-]+-----|\s+/g, '') };
  }
  const key = makeIdpKey({ cn: `TEST ONLY ${cn}`, days: 3650 });
  write(keyFile, key.keyPem);
  write(certFile, key.certPem);
  return key;
}

const idpKey = testKey('idp', 'interop IdP (samlp, samlify)');
const spKey = testKey('sp', 'interop SP');

// samlp (Auth0): its metadata middleware's IdP metadata, then IdP-initiated responses from
// getSamlResponse: assertion signed (its default), and encrypted to the SP certificate.
const samlpSp = fixtureSp(FIXTURES.samlp.connectionId);
write(
  'samlp-idp-metadata.xml',
  samlpMetadata({
    issuer: FIXTURES.samlp.entityId,
    certPem: idpKey.certPem,
    origin: FIXTURES.samlp.origin,
    ssoPath: FIXTURES.samlp.ssoPath,
  }),
);
const samlpBase = {
  issuer: FIXTURES.samlp.entityId,
  key: idpKey,
  acsUrl: samlpSp.acsUrl,
  audience: samlpSp.entityId,
};
write('samlp-response.xml', await samlpResponse({ ...samlpBase, email: FIXTURES.samlp.email }));
write(
  'samlp-response-encrypted.xml',
  await samlpResponse({
    ...samlpBase,
    email: FIXTURES.samlp.encryptedEmail,
    signResponse: true,
    encryptionCertPem: spKey.certPem,
  }),
);

// samlify: its IdP metadata, and an IdP-initiated login response (HTTP-POST) to an SP described
// the way our SP metadata describes it (entityID, ACS, assertions signed).
useSamlifyValidator();
const samlify = await import('samlify');
const samlifySpFacts = fixtureSp(FIXTURES.samlify.connectionId);
const idp = samlifyIdp({
  entityId: FIXTURES.samlify.entityId,
  ssoUrl: FIXTURES.samlify.ssoUrl,
  key: idpKey,
});
write('samlify-idp-metadata.xml', idp.getMetadata());
const sp = samlify.ServiceProvider({
  entityID: samlifySpFacts.entityId,
  assertionConsumerService: [
    { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: samlifySpFacts.acsUrl },
  ],
  wantAssertionsSigned: true,
});
write('samlify-response.xml', (await samlifyLoginResponse(idp, sp, FIXTURES.samlify.email)).xml);

const require = createRequire(import.meta.url);
const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
const manifest: FixtureManifest = {
  note: 'Captured by scripts/interop-fixtures.ts. TEST-ONLY-* keys are published test keys: never trust them.',
  capturedAt,
  versions: { samlp: version('samlp'), saml: version('saml'), samlify: version('samlify') },
  files: {
    'samlp-idp-metadata.xml': 'samlp metadata middleware, IdP signing certificate TEST-ONLY-idp',
    'samlp-response.xml': `samlp getSamlResponse, assertion signed, NameID ${FIXTURES.samlp.email}`,
    'samlp-response-encrypted.xml': `samlp getSamlResponse, response and assertion signed, assertion encrypted (RSA-OAEP + AES-256-GCM) to TEST-ONLY-sp, NameID ${FIXTURES.samlp.encryptedEmail}`,
    'samlify-idp-metadata.xml': 'samlify IdentityProvider.getMetadata(), signing certificate TEST-ONLY-idp',
    'samlify-response.xml': `samlify createLoginResponse (IdP-initiated, HTTP-POST), assertion signed, NameID ${FIXTURES.samlify.email}`,
  },
};
write('manifest.json', JSON.stringify(manifest, null, 2));
console.log(`interop fixtures written to ${dir.pathname} (captured at ${manifest.capturedAt})`);
