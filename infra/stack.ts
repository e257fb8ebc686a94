import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FUNCTIONS, type FunctionSpec, ROUTES } from '#shared/routes.ts';
import { Api, preflightRoutes } from './api.ts';
import { BACKGROUND_FUNCTIONS } from './background.ts';
import type { StackConfig } from './context.ts';
import { Data } from './data.ts';
import { Events } from './events.ts';
import { type FunctionNetwork, pascal, SsoFunction } from './function.ts';
import { directoryNetwork } from './network.ts';
import { Observability } from './observability.ts';

export interface SsoStackProps extends StackProps {
  config: StackConfig;
}

/**
 * The whole service in one stack: API, functions, table, secrets, event bus, dashboard and alarms.
 * It is environment-agnostic (no account or region, no lookups), so `cdk synth` runs offline.
 */
export class SsoStack extends Stack {
  readonly data: Data;
  readonly events: Events;
  readonly api: Api;
  /** Every deployed function by its name in the route table (or background list). */
  readonly functions = new Map<string, SsoFunction>();
  readonly observability: Observability;
  /** The network of the functions whose spec declares `directory`, when the deployment gives one. */
  readonly directoryNetwork: FunctionNetwork | undefined;
  /** The sender and SES identity of the functions whose spec declares `mail`. */
  readonly mail: StackConfig['mail'];

  constructor(scope: Construct, id: string, props: SsoStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.mail = config.mail;

    this.data = new Data(this, 'Data', { stage: config.stage });
    this.events = new Events(this, 'Events');
    this.api = new Api(this, 'Api', { domain: config.domain });

    const specs: [string, FunctionSpec][] = [
      ...Object.entries(FUNCTIONS),
      ...Object.entries(BACKGROUND_FUNCTIONS),
    ];
    // Only the functions that declare `directory` join the directory's network; the rest stay out
    // of the VPC (no ENIs, no NAT gateway or endpoints needed to reach AWS APIs).
    this.directoryNetwork =
      config.ldapNetwork && specs.some(([, spec]) => spec.directory)
        ? directoryNetwork(this, config.ldapNetwork)
        : undefined;
    for (const [name, spec] of specs) {
      const network = spec.directory ? this.directoryNetwork : undefined;
      this.functions.set(name, this.createFunction(name, spec, network));
    }

    const named = (name: string) => {
      const fn = this.functions.get(name);
      if (!fn) throw new Error(`No function "${name}" in FUNCTIONS or BACKGROUND_FUNCTIONS`);
      return fn;
    };
    // The route table, plus the OPTIONS routes that let CORS preflights reach the OpenID Provider.
    this.api.addRoutes([...ROUTES, ...preflightRoutes(ROUTES)], named);
    this.events.deliverAuditTo(named('audit-consumer'));
    this.events.deliverSessionRevocationsTo(named('oauth-logout'));
    this.events.scheduleMetadataRefresh(named('saml-metadata-refresh'));

    this.observability = new Observability(this, 'Observability', {
      stage: config.stage,
      api: this.api.httpApi,
      functions: this.functions,
      table: this.data.table,
      indexNames: this.data.indexNames,
      deadLetterQueue: this.events.deadLetterQueue,
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    });

    new CfnOutput(this, 'BaseUrl', {
      value: this.api.baseUrl,
      description: 'Public base URL of the service',
    });
    new CfnOutput(this, 'OperatorTokenSecretArn', {
      value: this.data.operatorToken.secretArn,
      description: 'Secret holding the operator token (aws secretsmanager get-secret-value --secret-id ...)',
    });
    new CfnOutput(this, 'SessionKeysSecretArn', {
      value: this.data.sessionKeys.secretArn,
      description: 'Secret holding the session signing keys',
    });
    new CfnOutput(this, 'OAuthKeysSecretArn', {
      value: this.data.oauthKeys.secretArn,
      description: "Secret holding the OpenID Provider's signing keys",
    });
    new CfnOutput(this, 'DashboardUrl', { value: this.observability.dashboardUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.alarmTopic.topicArn });
    new CfnOutput(this, 'TableName', { value: this.data.table.tableName });
    // For the dead-letter runbook in docs/operations.md: read the queue, replay from the archive.
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.events.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'EventBusArn', { value: this.events.bus.eventBusArn });
    new CfnOutput(this, 'EventArchiveArn', { value: this.events.archive.archiveArn });
    new CfnOutput(this, 'AuditRuleArn', { value: this.events.auditRule.ruleArn });
    new CfnOutput(this, 'SessionRevokedRuleArn', { value: this.events.sessionRevokedRule.ruleArn });
    if (this.api.domainName) {
      new CfnOutput(this, 'CustomDomainTarget', {
        value: this.api.domainName.regionalDomainName,
        description: `Point ${this.api.domainName.name} here (CNAME, or a Route 53 alias)`,
      });
    }
  }

  /**
   * A function from its spec, granted exactly what the spec names (least privilege); `network` is
   * the directory network for a spec that declares `directory`, when the deployment has one.
   */
  private createFunction(
    name: string,
    spec: FunctionSpec,
    network: FunctionNetwork | undefined,
  ): SsoFunction {
    const { data } = this;
    const fn = new SsoFunction(this, pascal(name), {
      name,
      spec,
      environment: { BASE_URL: this.api.baseUrl },
      ...(network ? { network } : {}),
    });
    if (spec.table !== 'none') fn.bindTable(data.table, spec.table, data.indexNames);
    const { operatorToken, sessionKeys, oauthKeys, connections, applications } = spec.secrets;
    if (operatorToken) fn.bindSecret('OPERATOR_TOKEN_SECRET_ID', data.operatorToken, operatorToken);
    if (sessionKeys) fn.bindSecret('SESSION_KEYS_SECRET_ID', data.sessionKeys, sessionKeys);
    if (oauthKeys) fn.bindSecret('OAUTH_KEYS_SECRET_ID', data.oauthKeys, oauthKeys);
    if (connections) fn.bindSecretPrefix(data.secretsPrefix, data.connectionSecretsPath, connections);
    if (applications) fn.bindSecretPrefix(data.secretsPrefix, data.applicationSecretsPath, applications);
    if (spec.events) fn.bindBus(this.events.bus);
    if (spec.mail) fn.bindMail(this.mail);
    return fn;
  }
}
