import { Aws, Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  ALARMS,
  type AlarmRow,
  type AlarmSources,
  alarmSettings,
  FIVE_MINUTES,
  kebab,
  meaning,
} from './alarms.ts';
import { pascal } from './function.ts';
import { SSO_METRICS } from './metrics.ts';

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

/** The CloudWatch dashboard, the alarms, and the topic the alarms notify. */
export class Observability extends Construct {
  readonly dashboard: Dashboard;
  readonly alarmTopic: Topic;
  readonly alarms: Alarm[] = [];
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { stage } = props;
    const functions = [...props.functions.entries()];

    // Alarm messages carry names and numbers only, so the topic needs no customer-managed key.
    this.alarmTopic = new Topic(this, 'AlarmTopic', { displayName: `SSO ${stage} alarms`, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    const throttleMetrics = this.tableThrottleMetrics(props.table, props.indexNames);
    const sources: AlarmSources = {
      api: props.api,
      deadLetterQueue: props.deadLetterQueue,
      tableThrottles: throttleMetrics,
    };
    this.addAlarms(stage, sources, functions);
    this.dashboard = this.createDashboard(props, functions, throttleMetrics);
    this.dashboardUrl = `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards/dashboard/${this.dashboard.dashboardName}`;
  }

  /** Every row of ALARMS: one alarm, or one per function. */
  private addAlarms(stage: string, sources: AlarmSources, functions: [string, IFunction][]): void {
    for (const row of ALARMS) {
      if (row.per === 'stack') {
        this.addAlarm(stage, row.id, row, row.measure(sources, row.evaluation.period), meaning(row));
      } else {
        for (const [name, fn] of functions) {
          const metric = row.measure(fn, row.evaluation.period);
          this.addAlarm(stage, `${pascal(name)}${row.id}`, row, metric, meaning(row, name));
        }
      }
    }
  }

  /**
   * The dashboard: logins, the OpenID Provider, the API, each function, the table, the event
   * pipeline, then the alarms.
   */
  private createDashboard(
    props: ObservabilityProps,
    functions: [string, IFunction][],
    throttleMetrics: Record<string, IMetric>,
  ): Dashboard {
    const { api, table, stage } = props;
    const dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `sso-${stage}`,
      defaultInterval: Duration.hours(6),
    });
    dashboard.addWidgets(
      new TextWidget({
        markdown: `# SSO (${stage})\nLogins, the OpenID Provider, the API, each function, the table and the event pipeline. Alarms are listed at the bottom; what to do for each is in docs/operations.md.`,
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(
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
    // The OpenID Provider: what applications get, and the two signs of trouble the alarms watch.
    dashboard.addWidgets(
      graph(
        'OAuth tokens issued by grant',
        [
          search(
            `Namespace="${SSO_METRICS.namespace}" MetricName="${SSO_METRICS.oauthTokenIssued}"`,
            'Sum',
            dimensionLabel('Grant'),
          ),
        ],
        8,
      ),
      graph(
        'OAuth refresh token and code reuse',
        [search(`Namespace="${SSO_METRICS.namespace}" MetricName="${SSO_METRICS.oauthRefreshReuse}"`, 'Sum')],
        8,
      ),
      graph(
        'Back-channel logout failures',
        [
          search(
            `Namespace="${SSO_METRICS.namespace}" MetricName="${SSO_METRICS.backchannelLogoutFailed}"`,
            'Sum',
          ),
        ],
        8,
      ),
    );
    dashboard.addWidgets(
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
    dashboard.addWidgets(
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
    dashboard.addWidgets(
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
    dashboard.addWidgets(
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
    dashboard.addWidgets(
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
    dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));

    return dashboard;
  }

  /** One row of ALARMS as a CloudWatch alarm named `sso-{stage}-{id in kebab case}`, notifying the topic. */
  private addAlarm(stage: string, id: string, row: AlarmRow, metric: IMetric, description: string): void {
    const alarm = new Alarm(this, id, {
      ...alarmSettings(row),
      metric,
      alarmName: `sso-${stage}-${kebab(id)}`,
      alarmDescription: `${description} See docs/operations.md, "When an alarm fires".`,
    });
    alarm.addAlarmAction(new SnsAction(this.alarmTopic));
    alarm.addOkAction(new SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
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
