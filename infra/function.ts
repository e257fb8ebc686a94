import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ISecurityGroup, ISubnet, IVpc } from 'aws-cdk-lib/aws-ec2';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { FunctionSpec } from '#shared/routes.ts';
import { SSO_METRICS } from './metrics.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The handler file of a function: `functions/{name}.ts`, exporting `handler`. */
export const functionEntry = (name: string): string => join(REPO_ROOT, 'functions', `${name}.ts`);

/** `saml-acs` → `SamlAcs`, for construct ids and alarm names. */
export function pascal(name: string): string {
  return name
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * The DynamoDB actions per access level. There is no IAM action for TransactWriteItems: each item of
 * a transaction is authorized by PutItem / UpdateItem / DeleteItem / ConditionCheckItem
 * (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
 */
export const TABLE_ACTIONS = {
  read: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
  readWrite: [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:BatchGetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:ConditionCheckItem',
  ],
} as const;

/** One fixed secret: `read` to use it, `rotate` to also write a new version (session signing keys). */
export const SECRET_ACTIONS = {
  read: ['secretsmanager:GetSecretValue'],
  rotate: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
} as const;

/**
 * Secrets created at run time under a name prefix (connection secrets): `read` at login, `manage`
 * from the admin API, which creates a new secret for every change and deletes the one it replaced.
 * TagResource is there because CreateSecret with tags needs it.
 */
export const SECRET_PREFIX_ACTIONS = {
  read: ['secretsmanager:GetSecretValue'],
  manage: [
    'secretsmanager:CreateSecret',
    'secretsmanager:GetSecretValue',
    'secretsmanager:DeleteSecret',
    'secretsmanager:TagResource',
  ],
} as const;

/**
 * Functions that use the runtime's AWS SDK instead of bundling it, where the SDK would pass the
 * 1 MB bundle budget: node-saml's XML stack (the SP metadata and SP-initiated AuthnRequests); the
 * admin API and the console, which carry four SDK clients (DynamoDB, Secrets Manager, EventBridge,
 * SES) and are off the sign-in path; and the session function, which reaches every connector
 * through the registry (an LDAP session's refresh). The benchmark reads this list (bench/bundles.ts).
 */
export const RUNTIME_SDK = new Set([
  'saml-login',
  'saml-metadata',
  'admin',
  'console',
  'session',
  'oauth',
  'oauth-logout',
]);

/**
 * The most bytes a function's bundle may have: 1 MB, except the OpenID Provider's two functions.
 * They carry oidc-provider with Koa (about 0.7 MB minified, measured in
 * docs/design/openid-provider.md), which no trimming of ours removes; their budget is 1.5 MB, and
 * their cold start is measured by the benchmark (bench/bundles.ts) rather than assumed.
 */
export const BUNDLE_BUDGET_BYTES: Readonly<Record<string, number>> = {
  default: 1_000_000,
  oauth: 1_500_000,
  'oauth-logout': 1_500_000,
};
export const bundleBudget = (name: string): number => BUNDLE_BUDGET_BYTES[name] ?? 1_000_000;

/** The deployment's sender (context `mailFrom`), its SES identity and optional configuration set. */
export interface MailBinding {
  from: string;
  identity: string;
  configurationSet?: string;
}

/** The SES resources a send is authorized against: the identity, and the configuration set if any. */
export function sesResources(stack: Stack, mail: MailBinding): string[] {
  const arn = (resource: string) => `arn:${stack.partition}:ses:${stack.region}:${stack.account}:${resource}`;
  return [
    arn(`identity/${mail.identity}`),
    ...(mail.configurationSet ? [arn(`configuration-set/${mail.configurationSet}`)] : []),
  ];
}

/** What functions without `mail` in their spec bundle instead of the SES client. */
export const MAIL_ABSENT = join(REPO_ROOT, 'infra', 'mail-absent.ts');

/** Where a function runs when it needs a private network (those whose spec declares `directory`). */
export interface FunctionNetwork {
  vpc: IVpc;
  subnets: ISubnet[];
  securityGroup: ISecurityGroup;
  /** The private ranges where directories live, opened to the function's directory connections. */
  directoryCidrs: readonly string[];
}

export interface SsoFunctionProps {
  /** The function's name in the route table; the code is `functions/{name}.ts`. */
  name: string;
  spec: Pick<FunctionSpec, 'description' | 'memoryMb' | 'timeoutSeconds'> &
    Partial<Pick<FunctionSpec, 'mail'>>;
  /** Variables every function gets (BASE_URL); bindings add the rest. */
  environment: Record<string, string>;
  /** Joins this network, and gets its directory ranges as PRIVATE_DIRECTORY_CIDRS. */
  network?: FunctionNetwork;
}

/**
 * The house Lambda: Node 22 on ARM64, an ESM bundle built by esbuild, active tracing, JSON logs
 * into a log group of its own, and a role that starts with nothing but that log group. Access to
 * anything else is added with the bind methods, each of which sets the variable the code reads and
 * grants exactly the access asked for, in one call, so the two can never drift apart.
 */
export class SsoFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: SsoFunctionProps) {
    const { name, spec, network } = props;
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `sso ${name} function`,
    });
    const logGroup = new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.THREE_MONTHS });
    // Write access to its own log group only: narrower than AWSLambdaBasicExecutionRole, which
    // allows writing to any log group in the account.
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: functionEntry(name),
      handler: 'handler',
      description: spec.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      environment: {
        ...props.environment,
        ...(network && network.directoryCidrs.length > 0
          ? { PRIVATE_DIRECTORY_CIDRS: network.directoryCidrs.join(',') }
          : {}),
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: `sso-${name}`,
        POWERTOOLS_METRICS_NAMESPACE: SSO_METRICS.namespace,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // Stack traces only need the mappings; leaving the sources out keeps the bundle small.
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // The AWS SDK is bundled (minified and tree-shaken) rather than loaded from the runtime's
        // copy: measured side by side, a bundle loads 60-90 ms faster that way (the runtime's SDK
        // is ~40 unminified CommonJS packages; bench/README.md), and it pins the SDK to the lock
        // file's version. Except where it would take the bundle over 1 MB (RUNTIME_SDK).
        bundleAwsSDK: !RUNTIME_SDK.has(name),
        // The SES client (~60 kB) only where the spec declares mail; elsewhere a stand-in that
        // refuses to send (infra/mail-absent.ts).
        ...(spec.mail ? {} : { esbuildArgs: { '--alias': `@aws-sdk/client-sesv2=${MAIL_ABSENT}` } }),
        // Some bundled CommonJS dependencies call require() for Node built-ins; ESM has no
        // require, so the bundle defines one.
        banner: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
      },
      ...(network
        ? {
            vpc: network.vpc,
            vpcSubnets: { subnets: network.subnets },
            securityGroups: [network.securityGroup],
          }
        : {}),
    });

    if (network) {
      // Lambda needs these to create and remove the function's network interfaces; the policy is
      // maintained by AWS and follows Lambda's needs (some of its actions take no resource ARN).
      role.addManagedPolicy(
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'AWSLambdaVPCAccessExecutionRole is the AWS-maintained policy Lambda needs to manage VPC ENIs.',
      });
    }

    // Acknowledged on the role, so only its own policies are covered, and only for `Resource::*`;
    // test/infra checks separately that no DynamoDB or Secrets Manager action has a `*` resource.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the project runtime (.nvmrc, package.json engines) that the tests run on.',
    });
  }

  /** TABLE_NAME, and GetItem/Query/BatchGetItem (plus the writes for readWrite) on the table and its indexes. */
  bindTable(table: ITable, access: keyof typeof TABLE_ACTIONS, indexNames: readonly string[]): this {
    this.addEnvironment('TABLE_NAME', table.tableName);
    this.addToRolePolicy(
      new PolicyStatement({
        actions: [...TABLE_ACTIONS[access]],
        resources: [table.tableArn, ...indexNames.map((index) => `${table.tableArn}/index/${index}`)],
      }),
    );
    return this;
  }

  /** A secret created with the stack: its ARN in `envVar`, and read (or read and write) on it alone. */
  bindSecret(envVar: string, secret: ISecret, access: keyof typeof SECRET_ACTIONS): this {
    this.addEnvironment(envVar, secret.secretArn);
    this.addToRolePolicy(
      new PolicyStatement({ actions: [...SECRET_ACTIONS[access]], resources: [secret.secretArn] }),
    );
    return this;
  }

  /**
   * SECRETS_PREFIX, and access to the secrets the code creates below `${prefix}/${path}`. Secrets
   * Manager appends a random suffix to every ARN, so the grant needs the trailing wildcard.
   */
  bindSecretPrefix(prefix: string, path: string, access: keyof typeof SECRET_PREFIX_ACTIONS): this {
    this.addEnvironment('SECRETS_PREFIX', prefix);
    const stack = Stack.of(this);
    const arn = `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${prefix}/${path}/*`;
    this.addToRolePolicy(
      new PolicyStatement({ actions: [...SECRET_PREFIX_ACTIONS[access]], resources: [arn] }),
    );
    if (this.role) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${prefix}/${path}/*]`,
        reason:
          'Connection and application secrets are created at run time with generated names; the grant is limited to their name prefix.',
      });
    }
    return this;
  }

  /**
   * MAIL_FROM (and MAIL_CONFIGURATION_SET), and ses:SendEmail on exactly that SES identity (and
   * configuration set: SES authorizes a send against both), only with that sender address.
   */
  bindMail(mail: MailBinding): this {
    this.addEnvironment('MAIL_FROM', mail.from);
    if (mail.configurationSet) this.addEnvironment('MAIL_CONFIGURATION_SET', mail.configurationSet);
    this.addToRolePolicy(
      new PolicyStatement({
        actions: ['ses:SendEmail'],
        resources: sesResources(Stack.of(this), mail),
        conditions: { StringEquals: { 'ses:FromAddress': mail.from } },
      }),
    );
    return this;
  }

  /** EVENT_BUS_NAME, and PutEvents on that bus. */
  bindBus(bus: IEventBus): this {
    this.addEnvironment('EVENT_BUS_NAME', bus.eventBusName);
    bus.grantPutEventsTo(this);
    return this;
  }
}
