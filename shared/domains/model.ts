import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import * as z from 'zod';

/**
 * An email domain a tenant asks to own. It counts for login (`verifiedDomains`) only once verified
 * for exactly one tenant: by a DNS TXT record carrying the token the service issued, or by the
 * operator.
 */
export type DomainStatus = 'pending' | 'verified';
export type VerificationMethod = 'dns' | 'operator';

export interface TenantDomain {
  tenantId: string;
  /** Lower-case ASCII (IDNA / punycode) form. */
  domain: string;
  status: DomainStatus;
  /** 32 random bytes, base64url; published in DNS, so proof of control rather than a secret. */
  token: string;
  createdAt: string;
  verifiedAt?: string;
  verifiedBy?: VerificationMethod;
}

/** The label under the domain where the TXT record goes. */
export const VERIFICATION_LABEL = '_sso-verification';
const VALUE_PREFIX = 'sso-verification=';

export const verificationName = (domain: string) => `${VERIFICATION_LABEL}.${domain}`;
export const verificationValue = (token: string) => `${VALUE_PREFIX}${token}`;

export interface DomainView {
  domain: string;
  status: DomainStatus;
  verification: { type: 'TXT'; name: string; value: string };
  createdAt: string;
  verifiedAt?: string;
  verifiedBy?: VerificationMethod;
}

export const viewOf = (d: TenantDomain): DomainView => ({
  domain: d.domain,
  status: d.status,
  verification: { type: 'TXT', name: verificationName(d.domain), value: verificationValue(d.token) },
  createdAt: d.createdAt,
  ...(d.verifiedAt ? { verifiedAt: d.verifiedAt } : {}),
  ...(d.verifiedBy ? { verifiedBy: d.verifiedBy } : {}),
});

/** Special-use names (RFC 6761, RFC 6762, RFC 6303) that no tenant can own. */
const RESERVED_TLDS = new Set(['localhost', 'local', 'invalid', 'arpa', 'internal', 'home', 'lan']);
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;
/** Characters the WHATWG host parser would quietly rewrite or that are never in an email domain. */
const REFUSED = /[\s%/\\:@[\]*?#_]/;

/**
 * The canonical form of a domain name, or undefined when it is not a public-looking host name:
 * lower-cased and IDNA-mapped to punycode (UTS #46 via node:url domainToASCII), without a trailing
 * dot; no wildcards, no IP addresses, at least two labels, a letter or punycode TLD.
 */
export function normalizeDomain(input: string): string | undefined {
  if (input.length === 0 || input.length > 300 || REFUSED.test(input)) return undefined;
  const ascii = domainToASCII(input.trim().replace(/\.$/, ''));
  if (!ascii || ascii.length > 253 || isIP(ascii) !== 0) return undefined;
  const labels = ascii.split('.');
  const tld = labels.at(-1) ?? '';
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l)) || !TLD.test(tld)) return undefined;
  if (RESERVED_TLDS.has(tld)) return undefined;
  return ascii;
}

export const AddDomainBody = z.strictObject({ domain: z.string().min(1).max(300) });

/**
 * `method: 'operator'` verifies without DNS and is the operator's alone; anyone else (and the
 * operator by default) proves control through the TXT record.
 */
export const VerifyDomainBody = z.strictObject({ method: z.enum(['dns', 'operator']).default('dns') });

/** The TXT values that prove `token`: each record's character-strings joined (RFC 7208 3.3 style). */
export function txtProves(records: readonly (readonly string[])[], token: string): boolean {
  const expected = verificationValue(token);
  return records.some((chunks) => chunks.join('').trim() === expected);
}
