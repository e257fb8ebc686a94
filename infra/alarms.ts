import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  type AlarmProps,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { SSO_METRICS } from './metrics.ts';

/**
 * The alarms, as one table: each row is an alarm (or one per function), its metric, threshold and
 * evaluation, what it means and what to do. The table drives the CloudWatch alarms
 * (infra/observability.ts), the alarm table of the runbook in docs/operations.md (written by
 * `npx tsx scripts/runbook.ts`, checked by test/infra/alarms.test.ts) and the template test. A new
 * alarm is a row here plus its runbook section.
 */

export const FIVE_MINUTES = Duration.minutes(5);

/** Below this many requests in five minutes, a 5xx rate is noise (one error of three is 33 %). */
export const MIN_REQUESTS = 20;

/** What the alarms' metrics are made of. */
export interface AlarmSources {
  api: HttpApi;
  deadLetterQueue: IQueue;
  /** Read and write throttle events of the table and of each index, keyed for a math expression. */
  tableThrottles: Record<string, IMetric>;
}

interface AlarmRowBase {
  /**
   * The construct id, and in kebab case the alarm's name: `sso-{stage}-{name}`. For a row per
   * function, the function's name comes first: `SamlAcs` + `Errors` is `sso-{stage}-saml-acs-errors`.
   */
  id: string;
  /** The metric, in words (the runbook's table). */
  metric: string;
  threshold: number;
  comparison: ComparisonOperator;
  /**
   * The metric's period; how many periods are evaluated and how many of them must breach (all when
   * not given); and what a period without data counts as.
   */
  evaluation: { period: Duration; periods: number; breaching?: number; missing: TreatMissingData };
  /**
   * What it means: the alarm's description, and the runbook's. `{threshold}` stands for the
   * threshold, `{function}` for the function's name.
   */
  means: string;
  /** What to do first; the alarm's section in the runbook has the steps. */
  todo: string;
}

export type AlarmRow = AlarmRowBase &
  (
    | { per: 'stack'; measure(sources: AlarmSources, period: Duration): IMetric }
    | { per: 'function'; measure(fn: IFunction, period: Duration): IMetric }
  );

/** A Metrics Insights query: aggregates a metric over every dimension combination, usable in alarms. */
function insights(query: string, period: Duration, label: string): MathExpression {
  return new MathExpression({ expression: query, usingMetrics: {}, label, period });
}

export const ALARMS: readonly AlarmRow[] = [
  {
    id: 'ApiServerErrorRate',
    per: 'stack',
    metric: `API responses that are 5xx, in % of requests (0 below ${MIN_REQUESTS} requests)`,
    measure: ({ api }, period) =>
      new MathExpression({
        expression: `IF(requests >= ${MIN_REQUESTS}, 100 * errors / requests, 0)`,
        usingMetrics: {
          errors: api.metricServerError({ statistic: 'Sum', period }),
          requests: api.metricCount({ statistic: 'Sum', period }),
        },
        label: '5xx %',
        period,
      }),
    threshold: 5,
    comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluation: { period: FIVE_MINUTES, periods: 3, breaching: 2, missing: TreatMissingData.NOT_BREACHING },
    means: 'More than {threshold} % of API requests failed with 5xx.',
    todo: 'Find the failing function on the dashboard and its `request failed` log entries; roll back a bad deploy.',
  },
  {
    // Handled errors become 4xx/5xx responses, so Lambda "Errors" are crashes, timeouts and
    // cold-start failures. Two bad periods out of three: a lasting fault, not one blip.
    id: 'Errors',
    per: 'function',
    metric: 'Lambda `Errors` of the function (sum)',
    measure: (fn, period) => fn.metricErrors({ statistic: 'Sum', period }),
    threshold: 1,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation: { period: FIVE_MINUTES, periods: 3, breaching: 2, missing: TreatMissingData.NOT_BREACHING },
    means: 'The {function} function failed (crash, timeout or cold-start error).',
    todo: 'Read the function’s log: a missing variable, a timeout or an access its spec does not grant.',
  },
  {
    // On-demand tables still throttle (a hot key, or traffic beyond twice the previous peak).
    id: 'TableThrottles',
    per: 'stack',
    metric: 'DynamoDB read and write throttle events of the table and its index (sum)',
    measure: ({ tableThrottles }, period) =>
      new MathExpression({
        expression: Object.keys(tableThrottles).join(' + '),
        usingMetrics: tableThrottles,
        label: 'throttle events',
        period,
      }),
    threshold: 1,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation: { period: FIVE_MINUTES, periods: 3, breaching: 2, missing: TreatMissingData.NOT_BREACHING },
    means: 'DynamoDB throttled reads or writes on the table or its index.',
    todo: 'Find the operation and the key: a burst settles, a hot partition needs Contributor Insights.',
  },
  {
    // An audit event, an ended session (back-channel logout) or a metadata refresh was not processed.
    id: 'DeadLetterQueueNotEmpty',
    per: 'stack',
    metric: 'messages visible in the dead-letter queue (maximum)',
    measure: ({ deadLetterQueue }, period) =>
      deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period }),
    threshold: 1,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation: { period: FIVE_MINUTES, periods: 1, missing: TreatMissingData.NOT_BREACHING },
    means:
      'Events are waiting in the dead-letter queue (audit records not written, or applications not told of ended sessions).',
    todo: 'Read the messages, fix the cause, replay the window from the event archive, purge the queue.',
  },
  {
    // Summed over every protocol and reason: Metrics Insights, because an alarm cannot use SEARCH
    // and the dimension values are not known in advance.
    id: 'LoginFailureSpike',
    per: 'stack',
    metric: `\`${SSO_METRICS.loginFailed}\` over every protocol and reason (sum)`,
    measure: (_, period) =>
      insights(
        `SELECT SUM(${SSO_METRICS.loginFailed}) FROM "${SSO_METRICS.namespace}"`,
        period,
        'failed logins',
      ),
    threshold: 100,
    comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluation: { period: FIVE_MINUTES, periods: 1, missing: TreatMissingData.NOT_BREACHING },
    means: 'An unusual number of failed logins: possible password spraying or a broken IdP.',
    todo: 'One reason or everything? Block spraying sources; tell the tenant whose IdP changed.',
  },
  {
    // The OpenID Provider refuses a refresh token used before, or an authorization code redeemed
    // before, and revokes the grant it came from (RFC 6749 4.1.2 and 10.4). A client retrying
    // after a lost response does it once; several in five minutes look like stolen tokens.
    id: 'OAuthRefreshReuse',
    per: 'stack',
    metric: `\`${SSO_METRICS.oauthRefreshReuse}\` over every client (sum)`,
    measure: (_, period) =>
      insights(
        `SELECT SUM(${SSO_METRICS.oauthRefreshReuse}) FROM "${SSO_METRICS.namespace}"`,
        period,
        'spent refresh tokens and codes presented again',
      ),
    threshold: 5,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation: { period: FIVE_MINUTES, periods: 1, missing: TreatMissingData.NOT_BREACHING },
    means:
      'Spent refresh tokens or used authorization codes were presented again, {threshold} times or more in five minutes: possible token theft.',
    todo: 'Find the clients and users in the oauth function’s log; one application’s tokens leaking? Tell its owner.',
  },
  {
    // A delivery fails only after the function's own retries; two periods running is an
    // application whose back-channel logout endpoint stays broken, not one that blinked.
    id: 'BackchannelLogoutFailures',
    per: 'stack',
    metric: `\`${SSO_METRICS.backchannelLogoutFailed}\` over every application (sum)`,
    measure: (_, period) =>
      insights(
        `SELECT SUM(${SSO_METRICS.backchannelLogoutFailed}) FROM "${SSO_METRICS.namespace}"`,
        period,
        'failed back-channel logouts',
      ),
    threshold: 1,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation: { period: Duration.minutes(15), periods: 2, missing: TreatMissingData.NOT_BREACHING },
    means:
      'Back-channel logouts to applications failed after their retries, for half an hour: users who signed out may still be signed in there.',
    todo: 'Find the application in the oauth-logout function’s log; its owner fixes the endpoint, or you correct its URI.',
  },
  {
    // The refresh reports every six hours; between reports the alarm keeps its state (missing
    // data ignored) instead of flapping back to OK.
    id: 'SamlCertificateExpiring',
    per: 'stack',
    metric: `\`${SSO_METRICS.samlCertificateDaysToExpiry}\` of the soonest certificate (minimum)`,
    measure: (_, period) =>
      insights(
        `SELECT MIN(${SSO_METRICS.samlCertificateDaysToExpiry}) FROM "${SSO_METRICS.namespace}"`,
        period,
        'days to expiry (soonest)',
      ),
    threshold: 30,
    comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluation: { period: Duration.hours(1), periods: 1, missing: TreatMissingData.IGNORE },
    means: 'A SAML signing certificate expires within {threshold} days.',
    todo: 'Ask the tenant to roll the certificate at their IdP and publish it in the metadata.',
  },
  {
    // Our own SP certificates (generated for 10 years, or uploaded by the tenant), reported by the
    // same six-hourly job.
    id: 'SamlSpCertificateExpiring',
    per: 'stack',
    metric: `\`${SSO_METRICS.samlSpCertificateDaysToExpiry}\` of the soonest connection (minimum)`,
    measure: (_, period) =>
      insights(
        `SELECT MIN(${SSO_METRICS.samlSpCertificateDaysToExpiry}) FROM "${SSO_METRICS.namespace}"`,
        period,
        'SP certificate days to expiry (soonest)',
      ),
    threshold: 30,
    comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluation: { period: Duration.hours(1), periods: 1, missing: TreatMissingData.IGNORE },
    means: "A SAML SP certificate of ours (in a connection's SP metadata) expires within {threshold} days.",
    todo: "Rotate the connection's SP keys (POST …/sp-keys/rotate) and have the tenant re-import our metadata.",
  },
];

/** `SamlAcsErrors` → `saml-acs-errors`: alarm names, and the runbook's section headings. */
export const kebab = (id: string): string => id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** The alarm's name after `sso-{stage}-`, as the runbook heads its section: `{function}-errors` for a row per function. */
export const runbookName = (row: AlarmRow): string =>
  row.per === 'function' ? `{function}-${kebab(row.id)}` : kebab(row.id);

/** What the row means, for the function named (a row per function) or with `{function}` left in. */
export function meaning(row: AlarmRow, functionName = '{function}'): string {
  return row.means.replaceAll('{threshold}', String(row.threshold)).replaceAll('{function}', functionName);
}

/** The CloudWatch settings of a row, but for its metric, name, description and actions. */
export function alarmSettings(row: AlarmRow): Omit<AlarmProps, 'metric'> {
  const { periods, breaching, missing } = row.evaluation;
  return {
    threshold: row.threshold,
    comparisonOperator: row.comparison,
    evaluationPeriods: periods,
    ...(breaching !== undefined ? { datapointsToAlarm: breaching } : {}),
    treatMissingData: missing,
  };
}

const COMPARISON_SIGN: Partial<Record<ComparisonOperator, string>> = {
  [ComparisonOperator.GREATER_THAN_THRESHOLD]: '>',
  [ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD]: '≥',
  [ComparisonOperator.LESS_THAN_THRESHOLD]: '<',
  [ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD]: '≤',
};

const MISSING_DATA: Record<TreatMissingData, string> = {
  [TreatMissingData.NOT_BREACHING]: 'no data is fine',
  [TreatMissingData.IGNORE]: 'no data keeps the state',
  [TreatMissingData.BREACHING]: 'no data is breaching',
  [TreatMissingData.MISSING]: 'no data is missing',
};

function evaluationInWords(row: AlarmRow): string {
  const { period, periods, breaching = periods, missing } = row.evaluation;
  const length = period.toHumanString();
  const window =
    periods === 1 ? `one period of ${length}` : `${breaching} of ${periods} periods of ${length}`;
  return `${window}; ${MISSING_DATA[missing]}`;
}

/** GitHub's anchor of a `### \`name\`` heading: backticks and braces dropped. */
const anchor = (name: string): string => name.replace(/[^a-z0-9-]/g, '');

/** The runbook's alarm table (Markdown, columns aligned), one line per row of ALARMS. */
export function runbookTable(rows: readonly AlarmRow[] = ALARMS): string {
  const header = ['alarm', 'metric', 'fires at', 'evaluation', 'what it means', 'what to do'];
  const body = rows.map((row) => {
    const name = runbookName(row);
    return [
      `[\`${name}\`](#${anchor(name)})${row.per === 'function' ? ' (one per function)' : ''}`,
      row.metric,
      `${COMPARISON_SIGN[row.comparison] ?? row.comparison} ${row.threshold}`,
      evaluationInWords(row),
      meaning(row, '`{function}`'),
      row.todo,
    ].map((cell) => cell.replaceAll('|', '\\|'));
  });
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((cells) => (cells[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

export const RUNBOOK_BEGIN =
  '<!-- alarms: generated from infra/alarms.ts by `npx tsx scripts/runbook.ts` -->';
export const RUNBOOK_END = '<!-- alarms: end -->';

/** The text between the markers of a document, or undefined without them. */
export function runbookSection(document: string): string | undefined {
  const begin = document.indexOf(RUNBOOK_BEGIN);
  const end = document.indexOf(RUNBOOK_END);
  if (begin < 0 || end < begin) return undefined;
  return document.slice(begin + RUNBOOK_BEGIN.length, end).trim();
}

/** The document with the alarm table between its markers replaced by the current one. */
export function withRunbookTable(document: string, rows: readonly AlarmRow[] = ALARMS): string {
  const begin = document.indexOf(RUNBOOK_BEGIN);
  const end = document.indexOf(RUNBOOK_END);
  if (begin < 0 || end < begin) throw new Error(`Markers not found: ${RUNBOOK_BEGIN} … ${RUNBOOK_END}`);
  return `${document.slice(0, begin + RUNBOOK_BEGIN.length)}\n\n${runbookTable(rows)}\n\n${document.slice(end)}`;
}
