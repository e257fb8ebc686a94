import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger } from './logger.ts';

/**
 * The service's own metrics, as CloudWatch embedded metric format through Powertools. The CDK
 * dashboard and alarms read these names (infra/metrics.ts re-exports them). No tenant dimension:
 * per-tenant detail belongs to the audit trail, not to metric cardinality.
 */
export const SSO_METRICS = {
  namespace: 'SSO',
  /** Count per successful login; dimension `Protocol` (saml, oidc, ldap, password). */
  loginSucceeded: 'LoginSucceeded',
  /** Count per refused login; dimensions `Protocol` and `Reason` (the error code). */
  loginFailed: 'LoginFailed',
  /** Count per account created by provisioning. */
  userProvisioned: 'UserProvisioned',
  /** Count per SAML assertion refused as a replay. */
  replayBlocked: 'ReplayBlocked',
  /** Milliseconds of one directory round trip (LDAP). */
  directoryLatency: 'DirectoryLatency',
  /** Days until the SAML signing certificate expires, per connection, from the metadata refresh. */
  samlCertificateDaysToExpiry: 'SamlCertificateDaysToExpiry',
  /** Days until our own SAML SP certificate (the latest-expiring one published) expires, per connection. */
  samlSpCertificateDaysToExpiry: 'SamlSpCertificateDaysToExpiry',
  /**
   * Count per token response of the OpenID Provider; dimension `Grant` (authorization_code,
   * refresh_token, device_code).
   */
  oauthTokenIssued: 'OAuthTokenIssued',
  /** Count per spent refresh token or replayed authorization code presented again. */
  oauthRefreshReuse: 'OAuthRefreshReuse',
  /** Count per back-channel logout delivery to an application that failed after its retries. */
  backchannelLogoutFailed: 'BackchannelLogoutFailed',
} as const;

/** Created once per container; the middy chain publishes what a request recorded. */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? SSO_METRICS.namespace,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sso',
  // Its only warning is "no application metrics to publish", normal for most requests: a log line
  // per request would cost more than it tells, so it goes to debug.
  logger: {
    debug: (...args: unknown[]) => logger.debug(String(args[0])),
    info: (...args: unknown[]) => logger.info(String(args[0])),
    warn: (...args: unknown[]) => logger.debug(String(args[0])),
    error: (...args: unknown[]) => logger.error(String(args[0])),
  },
});

/** One data point with its own dimensions (Protocol, Reason), published with the request's batch. */
export function countWith(
  name: string,
  dimensions: Record<string, string>,
  value = 1,
  unit = MetricUnit.Count,
): void {
  const single = metrics.singleMetric();
  for (const [k, v] of Object.entries(dimensions)) single.addDimension(k, v);
  single.addMetric(name, unit, value);
}

export { MetricUnit };
