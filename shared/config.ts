import * as z from 'zod';

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
  EVENT_BUS_NAME: z.string().default('default'),
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
});

export type Config = z.infer<typeof EnvSchema>;

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid environment: ${problems}`);
  }
  return parsed.data;
}
