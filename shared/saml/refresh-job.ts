import { configured } from '../connections/contract.ts';
import { logger } from '../logger.ts';
import { countWith, MetricUnit, SSO_METRICS } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import { getConnection, recordLiveTest } from '../store/connections.ts';
import { allSamlConnections } from '../store/idp-entities.ts';
import { samlConnector } from './connector.ts';
import type { SamlDerived } from './metadata.ts';
import { ensureSpKeys, spDaysToExpiry } from './sp-keys.ts';

/**
 * The scheduled SAML job: re-fetch every metadata URL (the last good copy stays when a fetch
 * fails) and report, per connection, the days until its signing certificate expires, so an alarm
 * fires 30 days before logins would start failing; and the days until our own SP certificate
 * (the latest-expiring one published) expires, for its own alarm.
 */
export async function refreshAllSamlMetadata(rt: Runtime) {
  const summary = {
    connections: 0,
    refreshed: 0,
    failed: 0,
    minDaysToExpiry: Number.POSITIVE_INFINITY,
    minSpDaysToExpiry: Number.POSITIVE_INFINITY,
  };
  for (const { connectionId, tenantId } of await allSamlConnections(rt.db)) {
    // One connection that cannot be read or refreshed must not stop every other tenant's refresh
    // and certificate report.
    try {
      await refreshOne(rt, tenantId, connectionId, summary);
    } catch (error) {
      summary.failed++;
      logger.warn('saml metadata refresh failed for a connection', { connectionId, tenantId, error });
    }
  }
  logger.info('saml metadata refresh', summary);
  return summary;
}

type Summary = Record<
  'connections' | 'refreshed' | 'failed' | 'minDaysToExpiry' | 'minSpDaysToExpiry',
  number
>;

async function refreshOne(rt: Runtime, tenantId: string, connectionId: string, summary: Summary) {
  const connection = await getConnection(rt.db, tenantId, connectionId);
  if (connection?.type !== 'saml') return;
  summary.connections++;
  let derived = connection.derived as SamlDerived | undefined;
  const saml = configured(connection, samlConnector.schema);
  if (saml.config.idpMetadataUrl) {
    const result = await samlConnector.liveTest(rt, saml);
    await recordLiveTest(rt.db, connection, result);
    const failed =
      result.compatibility.warnings.some((w) => w.code === 'metadata_refresh_failed') || !result.derived;
    if (failed) summary.failed++;
    else summary.refreshed++;
    derived = result.derived as SamlDerived | undefined;
  }
  const now = rt.clock.now().getTime();
  // The latest-expiring certificate is the one that keeps logins working.
  const latest = Math.max(...(derived?.idp?.certificates ?? []).map((c) => Date.parse(c.notAfter)));
  if (Number.isFinite(latest)) {
    const days = Math.floor((latest - now) / 86_400_000);
    summary.minDaysToExpiry = Math.min(summary.minDaysToExpiry, days);
    countWith(
      SSO_METRICS.samlCertificateDaysToExpiry,
      { ConnectionId: connectionId },
      days,
      MetricUnit.Count,
    );
  }
  // A connection saved before SP keys gets its pair here rather than on an anonymous first read
  // of its metadata (after the metadata is recorded: the key write bumps the version).
  const withKeys = await ensureSpKeys(rt, saml);
  // Our own certificates (the SP's, published in our metadata): the same report, its own alarm.
  const spDays = spDaysToExpiry(withKeys, rt.clock.now());
  if (spDays !== undefined) {
    summary.minSpDaysToExpiry = Math.min(summary.minSpDaysToExpiry, spDays);
    countWith(
      SSO_METRICS.samlSpCertificateDaysToExpiry,
      { ConnectionId: connectionId },
      spDays,
      MetricUnit.Count,
    );
  }
}
