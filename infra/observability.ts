import { Aws, Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { pascal } from './function.ts';
import { SSO_METRICS } from './metrics.ts';

/** Alarm thresholds, in one place so that the operations guide can point at them. */
export const ALARM_THRESHOLDS = {
  /** Percent of requests answered 5xx, over five minutes with at least MIN_REQUESTS requests. */
  api5xxPercent: 5,
  /** Failed logins across all tenants in five minutes: far above typos, typical of password spraying. */
  loginFailuresPer5Min: 100,
  /** Days before a SAML signing certificate expires. */
  samlCertificateDays: 30,
} as const;

/** Below this many requests in five minutes, a 5xx rate is noise (one error of three is 33 %). */
const MIN_REQUESTS = 20;

const FIVE_MINUTES = Duration.minutes(5);

/** The DynamoDB operations the code performs, for the latency graph. */
const TABLE_OPERATIONS = [
  'GetItem',
  'Query',
  'BatchGetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'TransactWriteItems',
] as const;

export interface ObservabilityProps {
  stage: string;
  api: HttpApi;
  /** Every function, by its route-table name. */
  functions: ReadonlyMap<string, IFunction>;
  table: Table;
  indexNames: readonly string[];
  deadLetterQueue: IQueue;
  alarmEmail?: string;
}

/**
 * A graph of one CloudWatch SEARCH: one line per dimension combination that exists, so new
 * protocols, reasons and connections show up without a deploy. Without a label, CloudWatch names
 * each line after its dimension values.
 */
function search(query: string, statistic: string, label?: string): MathExpression {
  return new MathExpression({
    expression: `SEARCH('${query}', '${statistic}', ${FIVE_MINUTES.toSeconds()})`,
    usingMetrics: {},
    ...(label ? { label } : {}),
    period: FIVE_MINUTES,
  });
}

/** A CloudWatch dynamic label naming each SEARCH line by these dimensions' values. */
const dimensionLabel = (...dimensions: string[]): string =>
  dimensions.map((d) => `$\{PROP('Dim.${d}')}`).join(' ');

/** A Metrics Insights query: aggregates a metric over every dimension combination, usable in alarms. */
function insights(query: string, period: Duration, label: string): MathExpression {
  return new MathExpression({ expression: query, usingMetrics: {}, label, period });
}

/** The CloudWatch dashboard, the alarms, and the topic the alarms notify. */
export class Observability extends Construct {
  readonly dashboard: Dashboard;
  readonly alarmTopic: Topic;
  readonly alarms: Alarm[] = [];
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { api, table, stage } = props;
    const functions = [...props.functions.entries()];

    // Alarm messages carry names and numbers only, so the topic needs no customer-managed key.
    this.alarmTopic = new Topic(this, 'AlarmTopic', { displayName: `SSO ${stage} alarms`, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    const alarm = (name: string, description: string, options: ConstructorParameters<typeof Alarm>[2]) => {
      const created = new Alarm(this, name, {
        ...options,
        alarmName: `sso-${stage}-${name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`,
        alarmDescription: `${description} See docs/operations.md, "When an alarm fires".`,
      });
      created.addAlarmAction(new SnsAction(this.alarmTopic));
      created.addOkAction(new SnsAction(this.alarmTopic));
      this.alarms.push(created);
    };

    // API: share of requests answered 5xx.
    alarm(
      'ApiServerErrorRate',
      `More than ${ALARM_THRESHOLDS.api5xxPercent} % of API requests failed with 5xx.`,
      {
        metric: new MathExpression({
          expression: `IF(requests >= ${MIN_REQUESTS}, 100 * errors / requests, 0)`,
          usingMetrics: {
            errors: api.metricServerError({ statistic: 'Sum', period: FIVE_MINUTES }),
            requests: api.metricCount({ statistic: 'Sum', period: FIVE_MINUTES }),
          },
          label: '5xx %',
          period: FIVE_MINUTES,
        }),
        threshold: ALARM_THRESHOLDS.api5xxPercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      },
    );

    // Functions: handled errors become 4xx/5xx responses, so Lambda "Errors" are crashes, timeouts
    // and cold-start failures. Two bad periods out of three: a lasting fault, not one blip.
    for (const [name, fn] of functions) {
      alarm(`${pascal(name)}Errors`, `The ${name} function failed (crash, timeout or cold-start error).`, {
        metric: fn.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    }

    // DynamoDB: on-demand tables still throttle (a hot key, or traffic beyond twice the previous peak).
    const throttleMetrics = this.tableThrottleMetrics(table, props.indexNames);
    alarm('TableThrottles', 'DynamoDB throttled reads or writes on the table or its index.', {
      metric: new MathExpression({
        expression: Object.keys(throttleMetrics).join(' + '),
        usingMetrics: throttleMetrics,
        label: 'throttle events',
        period: FIVE_MINUTES,
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // Dead letters: an audit event (or a metadata refresh) was not processed.
    alarm(
      'DeadLetterQueueNotEmpty',
      'Events are waiting in the dead-letter queue (audit records not written).',
      {
        metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: FIVE_MINUTES,
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      },
    );

    // Login failures, summed over every protocol and reason (Metrics Insights, because an alarm
    // cannot use SEARCH and the dimension values are not known in advance).
    alarm(
      'LoginFailureSpike',
      'An unusual number of failed logins: possible password spraying or a broken IdP.',
      {
        metric: insights(
          `SELECT SUM(${SSO_METRICS.loginFailed}) FROM "${SSO_METRICS.namespace}"`,
          FIVE_MINUTES,
          'failed logins',
        ),
        threshold: ALARM_THRESHOLDS.loginFailuresPer5Min,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      },
    );

    // SAML certificates: the refresh reports every six hours; between reports the alarm keeps its
    // state (missing data ignored) instead of flapping back to OK.
    alarm(
      'SamlCertificateExpiring',
      `A SAML signing certificate expires within ${ALARM_THRESHOLDS.samlCertificateDays} days.`,
      {
        metric: insights(
          `SELECT MIN(${SSO_METRICS.samlCertificateDaysToExpiry}) FROM "${SSO_METRICS.namespace}"`,
          Duration.hours(1),
          'days to expiry (soonest)',
        ),
        threshold: ALARM_THRESHOLDS.samlCertificateDays,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.IGNORE,
      },
    );

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `sso-${stage}`,
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# SSO (${stage})\nLogins, the API, each function, the table and the event pipeline. Alarms are listed at the bottom; what to do for each is in docs/operations.md.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph('Logins by protocol', [
        search(
          `Namespace="${SSO_METRICS.namespace}" MetricName="${SSO_METRICS.loginSucceeded}"`,
          'Sum',
          dimensionLabel('Protocol'),
        ),
      ]),
      graph('Login failures by protocol and reason', [
        search(
          `Namespace="${SSO_METRICS.namespace}" MetricName="${SSO_METRICS.loginFailed}"`,
          'Sum',
          dimensionLabel('Protocol', 'Reason'),
        ),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'API requests',
        [api.metricCount({ statistic: 'Sum', period: FIVE_MINUTES, label: 'requests' })],
        8,
      ),
      graph(
        'API 4xx / 5xx',
        [
          api.metricClientError({ statistic: 'Sum', period: FIVE_MINUTES, label: '4xx' }),
          api.metricServerError({ statistic: 'Sum', period: FIVE_MINUTES, label: '5xx' }),
        ],
        8,
      ),
      graph(
        'API latency (ms)',
        [
          api.metricLatency({ statistic: 'p50', period: FIVE_MINUTES, label: 'p50' }),
          api.metricLatency({ statistic: 'p99', period: FIVE_MINUTES, label: 'p99' }),
          api.metricIntegrationLatency({ statistic: 'p99', period: FIVE_MINUTES, label: 'integration p99' }),
        ],
        8,
      ),
    );
    const perFunction = (make: (fn: IFunction, name: string) => IMetric) =>
      functions.map(([name, fn]) => make(fn, name));
    this.dashboard.addWidgets(
      graph(
        'Duration p50 (ms)',
        perFunction((fn, name) => fn.metricDuration({ statistic: 'p50', period: FIVE_MINUTES, label: name })),
        8,
      ),
      graph(
        'Duration p99 (ms)',
        perFunction((fn, name) => fn.metricDuration({ statistic: 'p99', period: FIVE_MINUTES, label: name })),
        8,
      ),
      graph(
        'Function errors',
        perFunction((fn, name) => fn.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES, label: name })),
        8,
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Function throttles',
        perFunction((fn, name) =>
          fn.metricThrottles({ statistic: 'Sum', period: FIVE_MINUTES, label: name }),
        ),
      ),
      graph(
        'Concurrent executions (max)',
        perFunction((fn, name) =>
          fn.metric('ConcurrentExecutions', { statistic: 'Maximum', period: FIVE_MINUTES, label: name }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'DynamoDB latency (ms, average)',
        TABLE_OPERATIONS.map((operation) =>
          table.metricSuccessfulRequestLatency({
            dimensionsMap: { TableName: table.tableName, Operation: operation },
            statistic: 'Average',
            period: FIVE_MINUTES,
            label: operation,
          }),
        ),
      ),
      graph('DynamoDB throttle events', Object.values(throttleMetrics)),
    );
    this.dashboard.addWidgets(
      graph('SAML signing certificates: days to expiry', [
        search(
          `Namespace="${SSO_METRICS.namespace}" MetricName="${SSO_METRICS.samlCertificateDaysToExpiry}"`,
          'Minimum',
        ),
      ]),
      graph('Dead-letter queue (messages)', [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: FIVE_MINUTES,
          label: 'visible',
        }),
      ]),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));

    this.dashboardUrl = `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards/dashboard/${this.dashboard.dashboardName}`;
  }

  /** Read and write throttle events of the table and of each index, keyed for a math expression. */
  private tableThrottleMetrics(table: Table, indexNames: readonly string[]): Record<string, IMetric> {
    const metrics: Record<string, IMetric> = {};
    const targets: { key: string; label: string; dimensions: Record<string, string> }[] = [
      { key: 'table', label: 'table', dimensions: { TableName: table.tableName } },
      ...indexNames.map((index, i) => ({
        key: `index${i}`,
        label: index,
        dimensions: { TableName: table.tableName, GlobalSecondaryIndexName: index },
      })),
    ];
    for (const target of targets) {
      for (const kind of ['Read', 'Write'] as const) {
        metrics[`${kind.toLowerCase()}_${target.key}`] = new Metric({
          namespace: 'AWS/DynamoDB',
          metricName: `${kind}ThrottleEvents`,
          dimensionsMap: target.dimensions,
          statistic: 'Sum',
          period: FIVE_MINUTES,
          label: `${target.label} ${kind.toLowerCase()}s`,
        });
      }
    }
    return metrics;
  }
}

function graph(title: string, metrics: IMetric[], width = 12): GraphWidget {
  return new GraphWidget({ title, left: metrics, width, height: 6 });
}
