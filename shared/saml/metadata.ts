import { X509Certificate } from 'node:crypto';
import { type Finding, verdict } from '../connections/model.ts';
import { childElements, descendants, NS, parseUntrustedXml, wholeText } from './xml.ts';

/** What we keep of an IdP's metadata (all public). */
export interface IdpMetadata {
  entityId: string;
  ssoRedirectUrl?: string;
  ssoPostUrl?: string;
  /** Signing certificates, base64 DER; several means rotation: any of them verifies. */
  certificates: {
    der: string;
    notAfter: string;
    fingerprint256: string;
    rsaBits?: number;
    sha1Signed: boolean;
  }[];
  nameIdFormats: string[];
  wantAuthnRequestsSigned: boolean;
}

/** What a SAML connection keeps of its IdP (connection.derived): the parsed metadata, and when. */
export interface SamlDerived {
  /** Absent while no IdP metadata could be read yet. */
  idp?: IdpMetadata & { fetchedAt: string; source: 'xml' | 'url' };
  /** The SP key set (sp-keys.ts). */
  sp?: unknown;
}

export const EMAIL_NAMEID = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
// sha1WithRSAEncryption (1.2.840.113549.1.1.5) as it appears in DER
const SHA1_RSA_OID = Buffer.from('06092a864886f70d010105', 'hex');

export const pemOf = (der: string) =>
  `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)?.join('\n') ?? der}\n-----END CERTIFICATE-----\n`;

function describeCert(base64: string) {
  const der = base64.replace(/\s+/g, '');
  const cert = new X509Certificate(Buffer.from(der, 'base64'));
  const details = cert.publicKey.asymmetricKeyDetails;
  return {
    der,
    notAfter: new Date(cert.validTo).toISOString(),
    fingerprint256: cert.fingerprint256,
    ...(cert.publicKey.asymmetricKeyType === 'rsa' && details?.modulusLength
      ? { rsaBits: details.modulusLength }
      : {}),
    sha1Signed: Buffer.from(cert.raw).subarray(-300).includes(SHA1_RSA_OID),
  };
}

export class MetadataError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Parses IdP metadata (an EntityDescriptor, or the first IdP in an EntitiesDescriptor). */
export function parseIdpMetadata(xml: string): IdpMetadata {
  let doc: Document;
  try {
    doc = parseUntrustedXml(xml, 'metadata');
  } catch {
    throw new MetadataError('unparseable_metadata', 'The IdP metadata is not well-formed XML.');
  }
  const root = doc.documentElement;
  const entities =
    root.localName === 'EntityDescriptor' && root.namespaceURI === NS.metadata
      ? [root]
      : descendants(root, NS.metadata, 'EntityDescriptor');
  const entity = entities.find((e) => childElements(e, NS.metadata, 'IDPSSODescriptor').length > 0);
  if (!entity) throw new MetadataError('no_idp_descriptor', 'The metadata has no IDPSSODescriptor.');
  const entityId = entity.getAttribute('entityID') ?? '';
  if (!entityId) throw new MetadataError('unparseable_metadata', 'The metadata has no entityID.');
  const idp = childElements(entity, NS.metadata, 'IDPSSODescriptor')[0] as Element;

  const certificates: IdpMetadata['certificates'] = [];
  for (const kd of childElements(idp, NS.metadata, 'KeyDescriptor')) {
    const use = kd.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const x509 of descendants(kd, NS.dsig, 'X509Certificate')) {
      try {
        const described = describeCert(wholeText(x509));
        if (!certificates.some((c) => c.fingerprint256 === described.fingerprint256))
          certificates.push(described);
      } catch {
        throw new MetadataError(
          'unparseable_certificate',
          'A signing certificate in the metadata cannot be read.',
        );
      }
    }
  }
  const sso = childElements(idp, NS.metadata, 'SingleSignOnService');
  const location = (binding: string) =>
    sso.find((s) => s.getAttribute('Binding') === binding)?.getAttribute('Location') ?? undefined;
  const ssoRedirectUrl = location(BINDING_REDIRECT);
  const ssoPostUrl = location(BINDING_POST);
  return {
    entityId,
    ...(ssoRedirectUrl ? { ssoRedirectUrl } : {}),
    ...(ssoPostUrl ? { ssoPostUrl } : {}),
    certificates,
    nameIdFormats: childElements(idp, NS.metadata, 'NameIDFormat').map(wholeText),
    wantAuthnRequestsSigned: idp.getAttribute('WantAuthnRequestsSigned') === 'true',
  };
}

/** The compatibility report for parsed metadata at a given time. */
export function assess(meta: IdpMetadata, now: Date, entityIdTaken: boolean) {
  const problems: Finding[] = [];
  const warnings: Finding[] = [];
  const soon = now.getTime() + 30 * 86_400_000;
  const live = meta.certificates.filter((c) => Date.parse(c.notAfter) > now.getTime());
  if (meta.certificates.length === 0) {
    problems.push({ code: 'no_signing_certificate', message: 'The metadata lists no signing certificate.' });
  } else if (live.length === 0) {
    problems.push({
      code: 'certificates_expired',
      message: 'Every signing certificate in the metadata has expired.',
    });
  }
  for (const c of meta.certificates) {
    if (c.rsaBits !== undefined && c.rsaBits < 2048) {
      problems.push({
        code: 'weak_key',
        message: `A signing certificate has a ${c.rsaBits}-bit RSA key; 2048 is the minimum.`,
      });
    }
    if (Date.parse(c.notAfter) > now.getTime() && Date.parse(c.notAfter) < soon) {
      warnings.push({
        code: 'certificate_expiring',
        message: `A signing certificate expires on ${c.notAfter}.`,
      });
    }
    if (c.sha1Signed)
      warnings.push({ code: 'sha1_certificate', message: 'A signing certificate is signed with SHA-1.' });
  }
  if (!meta.ssoRedirectUrl && !meta.ssoPostUrl) {
    warnings.push({
      code: 'no_sso_url',
      message: 'No SingleSignOnService: only IdP-initiated login will work.',
    });
  }
  if (meta.nameIdFormats.length > 0 && !meta.nameIdFormats.includes(EMAIL_NAMEID)) {
    warnings.push({
      code: 'no_email_nameid',
      message: 'The IdP does not offer the emailAddress NameID format; set emailAttribute.',
    });
  }
  if (entityIdTaken) {
    problems.push({
      code: 'entity_id_in_use',
      message: 'Another connection already uses this IdP entityID.',
    });
  }
  return verdict(problems, warnings);
}
