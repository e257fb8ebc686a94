import * as z from 'zod';

/** Tenant roles, strongest first. */
export const TENANT_ROLES = ['owner', 'admin', 'auditor', 'member'] as const;
export const TenantRole = z.enum(TENANT_ROLES);
export type TenantRole = z.infer<typeof TenantRole>;

/** Slug chosen by the operator; it appears in URLs such as /t/{tenantId}/login. */
export const TenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be a lower-case slug of 2 to 63 characters');

/** An application's client id: a canonical (lower-case) UUID. */
export const ClientId = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    'must be an application client id (a lower-case UUID)',
  );

const WebUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048);

export const LoginThrottle = z.strictObject({
  maxFailuresPerAccount: z.int().min(1).max(10_000).default(10),
  maxFailuresPerIp: z.int().min(1).max(100_000).default(100),
  windowSeconds: z.int().min(60).max(86_400).default(900),
});

export const TenantSettings = z.strictObject({
  /** Off: the tenant's SAML, OIDC and LDAP connections sign nobody in (403 sso_disabled); passwords still work. */
  ssoEnabled: z.boolean().default(true),
  forbidPasswordLogin: z.boolean().default(false),
  /** Roles that may still use a password when `forbidPasswordLogin` is set. */
  passwordLoginRoles: z
    .array(TenantRole)
    .max(TENANT_ROLES.length)
    .default(['owner', 'admin'])
    .transform((roles) => [...new Set(roles)]),
  appUrl: WebUrl.optional(),
  allowedRedirectUrls: z.array(WebUrl).max(50).default([]),
  /**
   * The client id of the application IdP-initiated logins land in (through its initiateLoginUri,
   * OIDC Core §4); without one they land at `appUrl`. It must allow the tenant and have an
   * initiateLoginUri when set; if it later stops doing so, logins land at `appUrl` again.
   */
  defaultApplication: ClientId.describe(
    'The client id of the application IdP-initiated logins land in, through its initiateLoginUri; without one, appUrl. It must allow the tenant and have an initiateLoginUri.',
  ).optional(),
  sessionTtlSeconds: z
    .int()
    .min(300)
    .max(30 * 86_400)
    .default(8 * 3600),
  loginThrottle: LoginThrottle.default({
    maxFailuresPerAccount: 10,
    maxFailuresPerIp: 100,
    windowSeconds: 900,
  }),
});
export type TenantSettings = z.output<typeof TenantSettings>;

export const CreateTenantBody = z.strictObject({
  id: TenantId,
  name: z.string().trim().min(1).max(200),
  settings: z.record(z.string(), z.unknown()).default({}),
});

export const PatchTenantBody = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  /** Merged into the current settings; a null value resets that setting to its default. */
  settings: z.record(z.string(), z.unknown()).optional(),
  version: z.int().min(1).optional(),
});

export interface Tenant {
  id: string;
  name: string;
  settings: TenantSettings;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * Whether the tenant's identity providers may sign people in. A stored tenant whose settings
 * predate the flag (no value) counts as on, the default.
 */
export const ssoOn = (tenant: Pick<Tenant, 'settings'>): boolean => tenant.settings.ssoEnabled !== false;

/**
 * Whether an application can be a tenant's landing application: it lets the tenant's members in
 * (`tenants` is `all` or names the tenant) and has an initiateLoginUri to start its login at.
 */
export const landsTenant = <A extends { tenants: 'all' | readonly string[]; initiateLoginUri?: string }>(
  app: A,
  tenantId: string,
): app is A & { initiateLoginUri: string } =>
  app.initiateLoginUri !== undefined && (app.tenants === 'all' || app.tenants.includes(tenantId));
