import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import * as samlify from 'samlify';
import type { IdpKey } from '../../local/demo/saml-idp.ts';

/**
 * SAML implementations written by others, driven the way their users drive them: Auth0's `samlp`
 * (the `getSamlResponse` an Auth0-style IdP calls for IdP-initiated sign-in) and `samlify` (an
 * IdentityProvider and a ServiceProvider built from metadata). Shared by the interop tests and
 * scripts/interop-fixtures.ts, which captures their output as fixtures. No vitest import here.
 */

export const EMAIL_NAMEID = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
export const AES256_GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
export const AES256_CBC = 'http://www.w3.org/2001/04/xmlenc#aes256-cbc';
export const RSA_OAEP_MGF1P = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

const require = createRequire(import.meta.url);

// ---- samlp -------------------------------------------------------------------------------------

/** The part of samlp's API we use (it ships no types). */
interface Samlp {
  metadata(
    options: Record<string, unknown>,
  ): (
    req: Record<string, unknown>,
    res: { set(name: string, value: string): void; send(body: string): void },
  ) => void;
  getSamlResponse(
    config: Record<string, unknown>,
    user: Record<string, unknown>,
    callback: (error: Error | null, xml: string) => void,
  ): void;
}
const samlp = require('samlp') as Samlp;

export interface SamlpOptions {
  /** The IdP entityID (samlp's `issuer`, on the Response and the Assertion). */
  issuer: string;
  key: IdpKey;
  /** Our ACS: the Response's Destination and the SubjectConfirmationData's Recipient. */
  acsUrl: string;
  /** Our SP entityID: the Audience. */
  audience: string;
  email: string;
  /** samlp signs the Assertion by default; this adds a signature on the Response too. */
  signResponse?: boolean;
  /** The SP certificate (PEM) to encrypt the assertion to; unencrypted when absent. */
  encryptionCertPem?: string;
  /** Content cipher; samlp's (saml's) default is AES-256-GCM with RSA-OAEP-MGF1P key transport. */
  encryptionAlgorithm?: string;
}

/** A SAML Response from samlp's `getSamlResponse`, as an Auth0-style IdP would post it. */
export function samlpResponse(o: SamlpOptions): Promise<string> {
  const encryption = o.encryptionCertPem
    ? {
        encryptionCert: o.encryptionCertPem,
        encryptionPublicKey: new X509Certificate(o.encryptionCertPem).publicKey.export({
          type: 'spki',
          format: 'pem',
        }),
        // samlp passes the content cipher through; the key transport stays saml's default,
        // RSA-OAEP-MGF1P (getSamlResponse has no option for it).
        encryptionAlgorithm: o.encryptionAlgorithm ?? AES256_GCM,
        // samlp refuses CBC unless told otherwise; the refusal test needs it told.
        disallowEncryptionWithInsecureAlgorithm: (o.encryptionAlgorithm ?? AES256_GCM) !== AES256_CBC,
        warnOnInsecureEncryptionAlgorithm: false,
      }
    : {};
  const config = {
    issuer: o.issuer,
    cert: o.key.certPem,
    key: o.key.keyPem,
    audience: o.audience,
    recipient: o.acsUrl,
    destination: o.acsUrl,
    // getSamlResponse (unlike samlp's middleware) sets no default, and the Response signature
    // would fall back to xml-crypto 2's RSA-SHA1: name SHA-256 as the middleware does.
    signatureAlgorithm: 'rsa-sha256',
    digestAlgorithm: 'sha256',
    nameIdentifierFormat: EMAIL_NAMEID,
    lifetimeInSeconds: 300,
    signResponse: o.signResponse ?? false,
    ...encryption,
  };
  // A passport.js profile, samlp's default ProfileMapper input: `id` becomes the NameID.
  const user = {
    id: o.email,
    emails: [{ value: o.email }],
    displayName: 'Sam Lee',
    name: { givenName: 'Sam', familyName: 'Lee' },
  };
  return new Promise((done, fail) =>
    samlp.getSamlResponse(config, user, (error, xml) => (error ? fail(error) : done(xml))),
  );
}

/**
 * samlp's IdP metadata, from its `metadata` middleware (it renders for the request's host; this
 * is the request an IdP administrator's browser would make at `${origin}/FederationMetadata/...`).
 */
export function samlpMetadata(o: {
  issuer: string;
  certPem: string;
  origin: string;
  ssoPath: string;
}): string {
  const path = '/FederationMetadata/2007-06/FederationMetadata.xml';
  const origin = new URL(o.origin);
  let body = '';
  samlp.metadata({
    issuer: o.issuer,
    cert: o.certPem,
    redirectEndpointPath: o.ssoPath,
    postEndpointPath: o.ssoPath,
  })(
    {
      originalUrl: path,
      protocol: origin.protocol.replace(':', ''),
      headers: { host: origin.host },
    },
    { set: () => undefined, send: (xml) => (body = xml) },
  );
  return body;
}

// ---- samlify -----------------------------------------------------------------------------------

let validatorSet = false;
/**
 * samlify refuses to parse anything until a schema validator is set. The xmllint-wasm one
 * validates against the SAML XSDs with a WebAssembly build shipped inside the npm package (no
 * Java, no download), so what samlify accepts from us is also schema-valid.
 */
export function useSamlifyValidator(): void {
  if (validatorSet) return;
  const validator = require('@authenio/samlify-xmllint-wasm') as {
    validate: (xml: string) => Promise<unknown>;
  };
  samlify.setSchemaValidator(validator);
  validatorSet = true;
}

export interface SamlifyIdpOptions {
  entityId: string;
  ssoUrl: string;
  key: IdpKey;
  /** samlify checks AuthnRequest signatures only when its own metadata asks for them. */
  wantAuthnRequestsSigned?: boolean;
}

/**
 * A samlify IdentityProvider as its README sets one up. Its responses are samlify's default
 * template: the NameID is the user's email in the first NameIDFormat, no AttributeStatement
 * (samlify fills attributes only through a caller's own template callback).
 */
export function samlifyIdp(o: SamlifyIdpOptions) {
  useSamlifyValidator();
  return samlify.IdentityProvider({
    entityID: o.entityId,
    privateKey: o.key.keyPem,
    signingCert: o.key.certPem,
    wantAuthnRequestsSigned: o.wantAuthnRequestsSigned ?? true,
    nameIDFormat: [EMAIL_NAMEID],
    singleSignOnService: [
      { Binding: BINDING_REDIRECT, Location: o.ssoUrl },
      { Binding: BINDING_POST, Location: o.ssoUrl },
    ],
    singleLogoutService: [{ Binding: BINDING_REDIRECT, Location: o.ssoUrl.replace(/\/sso$/, '/slo') }],
  });
}

/** samlify's ServiceProvider view of an SP from its metadata XML (ours, in the tests). */
export function samlifySp(metadataXml: string) {
  useSamlifyValidator();
  return samlify.ServiceProvider({ metadata: metadataXml });
}

/** The redirect-binding query of an AuthnRequest URL as samlify's parseLoginRequest wants it. */
export function redirectRequest(location: string) {
  const url = new URL(location);
  const query = Object.fromEntries(url.searchParams.entries());
  // The signed octet string is the query as sent, up to the Signature (SAML bindings 3.4.4.1).
  const octetString = url.search.slice(1).split('&Signature=')[0] ?? '';
  return { query, octetString };
}

/**
 * The samlify IdP's login response (HTTP-POST binding) for a request it parsed, or IdP-initiated
 * without one (samlify then writes `InResponseTo=""`), as XML.
 */
export async function samlifyLoginResponse(
  idp: ReturnType<typeof samlifyIdp>,
  sp: ReturnType<typeof samlifySp>,
  email: string,
  requestInfo: { extract: samlify.Extractor.ExtractorResult } = { extract: {} },
): Promise<{ id: string; xml: string }> {
  const out = await idp.createLoginResponse(sp, requestInfo, 'post', { email });
  return { id: out.id, xml: Buffer.from(out.context, 'base64').toString('utf8') };
}

/** Base64 DER of the certificates in KeyDescriptors of this `use` in metadata XML. */
export function certificatesIn(metadataXml: string, use: 'signing' | 'encryption'): string[] {
  const out: string[] = [];
  const descriptors = metadataXml.match(/<(?:\w+:)?KeyDescriptor\b[^>]*>[\s\S]*?<\/(?:\w+:)?KeyDescriptor>/g);
  for (const kd of descriptors ?? []) {
    const useAttr = /\buse="([^"]+)"/.exec(kd)?.[1];
    if (useAttr && useAttr !== use) continue;
    for (const m of kd.matchAll(/<(?:\w+:)?X509Certificate>([^<]+)</g))
      out.push((m[1] ?? '').replace(/\s+/g, ''));
  }
  return out;
}

export const pemOfDer = (der: string) =>
  `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)?.join('\n') ?? der}\n-----END CERTIFICATE-----\n`;

/** A TCP port free right now on 127.0.0.1 (for a stack whose BASE_URL is not where it listens). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

// ---- captured fixtures (scripts/interop-fixtures.ts writes them, the interop test reads them) --

/**
 * The captured messages are signed for fixed SP URLs, so the test stack runs with this BASE_URL
 * and installs the connections under these IDs. The IdP entity IDs are the fixtures' own.
 */
export const FIXTURES = {
  dir: new URL('../fixtures/interop/', import.meta.url),
  baseUrl: 'https://sso.interop.test',
  samlp: {
    connectionId: '5a41b000-0000-4000-8000-000000000001',
    entityId: 'urn:interop:samlp-idp',
    origin: 'https://samlp.idp.test',
    ssoPath: '/samlp/sso',
    email: 'samlp.fixture@interop.test',
    encryptedEmail: 'samlp.encrypted@interop.test',
  },
  samlify: {
    connectionId: '5a41f000-0000-4000-8000-000000000002',
    entityId: 'urn:interop:samlify-idp',
    ssoUrl: 'https://samlify.idp.test/sso',
    email: 'samlify.fixture@interop.test',
  },
} as const;

export const fixtureSp = (connectionId: string) => ({
  entityId: `${FIXTURES.baseUrl}/saml/${connectionId}/metadata.xml`,
  acsUrl: `${FIXTURES.baseUrl}/saml/${connectionId}/acs`,
});

/** What scripts/interop-fixtures.ts records beside the messages. */
export interface FixtureManifest {
  note: string;
  capturedAt: string;
  versions: Record<string, string>;
  files: Record<string, string>;
}
