/** The metric names the dashboard and alarms read: the same constants the functions emit with. */
export { SSO_METRICS } from '#shared/metrics.ts';
