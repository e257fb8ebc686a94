import { randomBytes } from 'node:crypto';
import { generateServiceProviderMetadata, SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { AppError } from '../errors.ts';
import { loginConnection, runLogin } from '../identity/login.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { putLoginState } from '../store/one-time.ts';
import { EMAIL_NAMEID, pemOf } from './metadata.ts';
import { idpOf, spKey, spUrls } from './service.ts';

/**
 * The SP side that node-saml builds for us: our metadata and SP-initiated AuthnRequests. Kept
 * apart from the ACS (service.ts), whose bundle then carries none of node-saml's XML stack.
 */

const REQUEST_TTL_SECONDS = 600;

/** GET /saml/{c}/metadata.xml: our SP metadata for the IdP administrator. */
export async function spMetadata(rt: Runtime, connectionId: string): Promise<string> {
  // Not a login: an enabled SAML connection is enough (no SSO check, nothing recorded).
  const connection = await loginConnection(rt, 'saml', connectionId);
  const { entityId, acsUrl } = spUrls(rt, connection.id);
  const cert = connection.config.spCertificatePem;
  const key = cert ? await spKey(rt, connection) : undefined;
  return generateServiceProviderMetadata({
    issuer: entityId,
    callbackUrl: acsUrl,
    identifierFormat: EMAIL_NAMEID,
    wantAssertionsSigned: true,
    // node-saml lists the certificate (signing and encryption) only alongside its key
    ...(cert && key ? { decryptionCert: cert, publicCerts: cert, decryptionPvk: key, privateKey: key } : {}),
  });
}

/** GET /saml/{c}/login: an AuthnRequest (redirect binding), its id kept single-use for the ACS. */
export function startLogin(rt: Runtime, connectionId: string, redirect: string | undefined): Promise<string> {
  return runLogin(rt, 'saml', connectionId, async ({ connection }) => {
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
    // With an SP key every AuthnRequest is signed (the SP metadata says so); IdPs that ask for it get it.
    const key = await spKey(rt, connection);
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
      validateInResponseTo: ValidateInResponseTo.never,
      ...(key ? { privateKey: key, signatureAlgorithm: 'sha256' as const } : {}),
    });
    await putLoginState(rt.db, {
      id,
      kind: 'saml',
      connectionId: connection.id,
      expiresAt: epochSeconds(rt.clock.now()) + REQUEST_TTL_SECONDS,
      data: redirect ? { redirect: redirect.slice(0, 2048) } : {},
    });
    // RelayState carries the return URL; the ACS still honours it only when it is on the allow-list.
    return saml.getAuthorizeUrlAsync(redirect ?? '', undefined, {});
  });
}
