/**
 * The service's own metrics (CloudWatch embedded metric format from the functions). The dashboard
 * and the alarms read exactly these names, and every function gets the namespace as
 * POWERTOOLS_METRICS_NAMESPACE; the code that emits them must use the same names.
 */
export const SSO_METRICS = {
  namespace: 'SSO',
  /** Count per successful login; dimension `Protocol` (saml, oidc, ldap, password). */
  loginSucceeded: 'LoginSucceeded',
  /** Count per refused login; dimensions `Protocol` and `Reason` (the error code). */
  loginFailed: 'LoginFailed',
  /** Days until the SAML signing certificate expires, per connection, from the metadata refresh. */
  samlCertificateDaysToExpiry: 'SamlCertificateDaysToExpiry',
} as const;
