import { isIP } from 'node:net';
import * as z from 'zod';

/** A DNS server as node:dns setServers takes it: an IP address, `ip:port` or `[ipv6]:port`. */
const isDnsServer = (entry: string): boolean => {
  const port = (p: string | undefined) => p === undefined || (/^\d{1,5}$/.test(p) && Number(p) <= 65_535);
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return isIP(bracketed[1] ?? '') === 6 && port(bracketed[2]);
  if (isIP(entry) !== 0) return true;
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  return withPort !== null && isIP(withPort[1] ?? '') === 4 && port(withPort[2]);
};

/**
 * Environment, read once and checked: a missing or malformed variable stops the cold start with a
 * message naming it, rather than failing later inside a request.
 */
const EnvSchema = z.object({
  TABLE_NAME: z.string().min(3),
  BASE_URL: z
    .url()
    .default('http://localhost:3000')
    .transform((u) => u.replace(/\/+$/, '')),
  AWS_REGION: z.string().optional(),
  /** DynamoDB Local (or any other endpoint) instead of the regional one. */
  DYNAMODB_ENDPOINT: z.url().optional(),
  /** Secrets Manager name prefix under which connection secrets are created, e.g. `sso/prod`. */
  SECRETS_PREFIX: z.string().default('sso'),
  /** Secret id (name or ARN) holding the operator token. */
  OPERATOR_TOKEN_SECRET_ID: z.string().default('operator-token'),
  /** Secret id holding the session signing keys (JSON, rotated in place). */
  SESSION_KEYS_SECRET_ID: z.string().default('session-keys'),
  /** Secret id holding the OpenID Provider's keys (JSON, rotated in place): token and cookie signing. */
  OAUTH_KEYS_SECRET_ID: z.string().default('oauth-keys'),
  EVENT_BUS_NAME: z.string().default('default'),
  /**
   * Sender of the mail the service sends (invitations, password resets): a plain address on a
   * verified SES identity. Set by the stack for functions whose spec declares `mail`; a function
   * that sends mail without it fails on its first message (`mailSettings`).
   */
  MAIL_FROM: z.email().optional(),
  /** SES configuration set for sending events (bounces, complaints, deliveries); optional. */
  MAIL_CONFIGURATION_SET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an SES configuration set name')
    .optional(),
  /**
   * Private ranges (CIDRs, comma-separated) where tenants' directories may live: set by the stack
   * for an LDAP function placed in a VPC. Only LDAP hosts use it; loopback and link-local never.
   */
  PRIVATE_DIRECTORY_CIDRS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.cidrv4().or(z.cidrv6()))),
  /** Lifts the private-address and https rule of the URL guard: local development and tests only. */
  ALLOW_PRIVATE_URLS: z
    .enum(['0', '1', 'true', 'false'])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  /**
   * Resolvers for email-domain verification (TXT lookups), comma-separated `ip`, `ip:port` or
   * `[ipv6]:port`; empty means the system's resolvers. Tests point it at a local DNS server.
   */
  DNS_SERVERS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().refine(isDnsServer, 'must be an IP address, ip:port or [ipv6]:port'))),
});

export type Config = z.infer<typeof EnvSchema>;

/** What the SES mailer needs; throws, naming the variable, when MAIL_FROM is missing. */
export function mailSettings(config: Pick<Config, 'MAIL_FROM' | 'MAIL_CONFIGURATION_SET'>): {
  from: string;
  configurationSet?: string;
} {
  if (!config.MAIL_FROM) {
    throw new Error(
      'Invalid environment: MAIL_FROM: required to send mail (the stack sets it for functions whose spec declares mail)',
    );
  }
  return {
    from: config.MAIL_FROM,
    ...(config.MAIL_CONFIGURATION_SET ? { configurationSet: config.MAIL_CONFIGURATION_SET } : {}),
  };
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid environment: ${problems}`);
  }
  return parsed.data;
}
