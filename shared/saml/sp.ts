import { randomBytes } from 'node:crypto';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { AppError } from '../errors.ts';
import { loginConnection, runLogin } from '../identity/login.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { putLoginState } from '../store/one-time.ts';
import { EMAIL_NAMEID, pemOf } from './metadata.ts';
import { idpOf, spUrls } from './service.ts';
import { ensureSpKeys, publishedCertificates, signingKey } from './sp-keys.ts';

/**
 * The SP side: our metadata, and SP-initiated AuthnRequests (built and signed by node-saml). Kept
 * apart from the ACS (service.ts), whose bundle then carries none of node-saml's XML stack.
 */

const REQUEST_TTL_SECONDS = 600;

const escapeXml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** What an IdP may encrypt assertions to us with (response.ts accepts exactly these). */
const ENCRYPTION_METHODS = [
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#rsa-oaep',
  'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
];

const keyDescriptor = (use: 'signing' | 'encryption', der: string) =>
  `    <md:KeyDescriptor use="${use}">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>${der}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>${
        use === 'encryption'
          ? ENCRYPTION_METHODS.map((a) => `\n      <md:EncryptionMethod Algorithm="${a}"/>`).join('')
          : ''
      }
    </md:KeyDescriptor>
`;

/**
 * SAML metadata (saml-metadata-2.0-os) for one connection: each published certificate (the current
 * one, and the next one during a rotation) as a `signing` and an `encryption` KeyDescriptor, in
 * the plain md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate shape every implementation
 * reads.
 */
export function spMetadataXml(o: { entityId: string; acsUrl: string; certificates: string[] }): string {
  const keys = o.certificates.flatMap((der) => [
    keyDescriptor('signing', der),
    keyDescriptor('encryption', der),
  ]);
  return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeXml(o.entityId)}">
  <md:SPSSODescriptor AuthnRequestsSigned="${o.certificates.length > 0}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
${keys.join('')}    <md:NameIDFormat>${EMAIL_NAMEID}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(o.acsUrl)}" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`;
}

/** GET /saml/{c}/metadata.xml: our SP metadata for the IdP administrator. */
export async function spMetadata(rt: Runtime, connectionId: string): Promise<string> {
  // Not a login: an enabled SAML connection is enough (no SSO check, nothing recorded). A
  // connection saved before SP keys were generated gets its key pair here.
  const connection = await ensureSpKeys(rt, await loginConnection(rt, 'saml', connectionId));
  const { entityId, acsUrl } = spUrls(rt, connection.id);
  return spMetadataXml({ entityId, acsUrl, certificates: publishedCertificates(connection, rt.clock.now()) });
}

/** What an SP-initiated login asks of the IdP besides signing the person in. */
export interface LoginOptions {
  /**
   * Re-authentication (the OpenID Provider's `prompt=login` / `max_age`): the AuthnRequest carries
   * ForceAuthn="true" (SAML core 3.4.1), and the ACS then requires an AuthnInstant no older than
   * the request (service.ts), in case the IdP answers from its own session all the same.
   */
  forceAuthn?: boolean;
}

/** The request's state item: where to land, and when re-authentication was asked for. */
export interface SamlRequestState {
  redirect?: string;
  /** Epoch seconds: when a ForceAuthn request was made; the assertion's AuthnInstant may not be older. */
  reauthSince?: number;
}

/** GET /saml/{c}/login: an AuthnRequest (redirect binding), its id kept single-use for the ACS. */
export function startLogin(
  rt: Runtime,
  connectionId: string,
  redirect: string | undefined,
  options: LoginOptions = {},
): Promise<string> {
  return runLogin(rt, 'saml', connectionId, async (start) => {
    const connection = await ensureSpKeys(rt, start.connection);
    const idp = idpOf(connection);
    if (!idp?.ssoRedirectUrl) {
      throw new AppError(
        400,
        'sp_initiated_unsupported',
        'The identity provider has no redirect SingleSignOnService.',
      );
    }
    const { entityId, acsUrl } = spUrls(rt, connection.id);
    const id = `_${randomBytes(20).toString('hex')}`;
    // Every AuthnRequest is signed with the current SP key (the SP metadata says so): redirect
    // binding, SigAlg rsa-sha256 and Signature over the query (SAML bindings 3.4.4.1).
    const key = await signingKey(rt, connection);
    if (idp.wantAuthnRequestsSigned && !key) {
      throw new AppError(
        400,
        'sp_key_required',
        'The identity provider wants signed requests; give the connection an SP key.',
      );
    }
    const saml = new SAML({
      entryPoint: idp.ssoRedirectUrl,
      issuer: entityId,
      callbackUrl: acsUrl,
      idpCert: idp.certificates.map((c) => pemOf(c.der)),
      generateUniqueId: () => id,
      identifierFormat:
        idp.nameIdFormats.length === 0 || idp.nameIdFormats.includes(EMAIL_NAMEID) ? EMAIL_NAMEID : null,
      disableRequestedAuthnContext: true,
      forceAuthn: options.forceAuthn === true,
      validateInResponseTo: ValidateInResponseTo.never,
      ...(key ? { privateKey: key, signatureAlgorithm: 'sha256' as const } : {}),
    });
    const now = epochSeconds(rt.clock.now());
    const data: SamlRequestState = {
      ...(redirect ? { redirect: redirect.slice(0, 2048) } : {}),
      ...(options.forceAuthn ? { reauthSince: now } : {}),
    };
    await putLoginState(rt.db, {
      id,
      kind: 'saml',
      connectionId: connection.id,
      expiresAt: now + REQUEST_TTL_SECONDS,
      data: { ...data },
    });
    // RelayState carries the return URL; the ACS still honours it only when it is on the allow-list.
    return saml.getAuthorizeUrlAsync(redirect ?? '', undefined, {});
  });
}
