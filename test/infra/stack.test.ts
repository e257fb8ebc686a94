import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALARMS, kebab, meaning } from '../../infra/alarms.ts';
import { BACKGROUND_FUNCTIONS } from '../../infra/background.ts';
import { readStackConfig } from '../../infra/context.ts';
import { bundleBudget, RUNTIME_SDK } from '../../infra/function.ts';
import { SsoStack } from '../../infra/stack.ts';
import { FUNCTIONS, type FunctionSpec, ROUTES } from '../../shared/routes.ts';
import { TABLE } from '../../shared/store/table.ts';
import { cdkJsonContext, grantsOf, nagFindings, resourceLabels, sortGrants } from './helpers.ts';

/** Mail through SES with a configuration set, so the grant shows both resources a send names. */
const MAIL_CONTEXT = { mailFrom: 'no-reply@sso.example.com', mailConfigurationSet: 'sso-test' } as const;

/**
 * The production stack, synthesized once with real esbuild bundling (what `cdk synth` does), then
 * inspected. Stage `test` so that names visibly come from context.
 */
let app: App;
let stack: SsoStack;
let template: Template;
let assemblyDir: string;

beforeAll(() => {
  app = new App({ context: { ...cdkJsonContext(), stage: 'test', ...MAIL_CONTEXT } });
  stack = new SsoStack(app, 'sso-test', { config: readStackConfig((key) => app.node.tryGetContext(key)) });
  template = Template.fromStack(stack);
  assemblyDir = app.synth().directory;
});

function logicalId(construct: IConstruct): string {
  const resource = construct.node.defaultChild;
  if (!(resource instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return stack.getLogicalId(resource);
}

function fn(name: string) {
  const found = stack.functions.get(name);
  if (!found) throw new Error(`no function ${name}`);
  return found;
}

/** The folder of a function's bundled code in the cloud assembly. */
function assetDir(name: string): string {
  const code = template.toJSON().Resources[logicalId(fn(name))].Properties.Code as { S3Key: string };
  return join(assemblyDir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
}

function properties(type: string): Record<string, unknown>[] {
  return Object.values(template.findResources(type)).map((r) => r.Properties as Record<string, unknown>);
}

const FUNCTION_ENTRIES = Object.entries(FUNCTIONS) as [string, FunctionSpec][];
/** The route table's functions and the background ones: each is built and bound from its spec alike. */
const ALL_ENTRIES = [...FUNCTION_ENTRIES, ...Object.entries(BACKGROUND_FUNCTIONS)] as [
  string,
  FunctionSpec,
][];

/**
 * The OpenID Provider's endpoints a browser calls cross-origin: discovery, token, userinfo,
 * revocation, introspection, device authorization. Their OPTIONS routes go to the function so that
 * oidc-provider answers the preflight for the client's own origins.
 */
const PREFLIGHT_ROUTES = [
  '/.well-known/openid-configuration',
  '/oauth/token',
  '/oauth/userinfo',
  '/oauth/revoke',
  '/oauth/introspect',
  '/oauth/device',
].map((path) => ({ method: 'OPTIONS', path, function: 'oauth' }) as const);

/** The API Gateway route key of a route of the table or of a preflight (OPTIONS is not a table method). */
const apiRouteKey = (route: { method: string; path: string }): string => `${route.method} ${route.path}`;

describe('the API', () => {
  it('has exactly the routes of the route table, and the OpenID Provider’s CORS preflights', () => {
    const keys = properties('AWS::ApiGatewayV2::Route').map((r) => r.RouteKey);
    const expected = new Set([...ROUTES, ...PREFLIGHT_ROUTES].map(apiRouteKey));
    expect([...keys].sort()).toEqual([...expected].sort());
  });

  it('has a preflight only where the route table sends the path to the OpenID Provider', () => {
    for (const preflight of PREFLIGHT_ROUTES) {
      const served = ROUTES.filter((r) => r.path === preflight.path).map((r) => r.function);
      expect(served.length, preflight.path).toBeGreaterThan(0);
      expect(new Set(served), preflight.path).toEqual(new Set(['oauth']));
    }
  });

  it('has no CORS configuration, which would answer preflights and overwrite the OP’s CORS headers', () => {
    const [api] = properties('AWS::ApiGatewayV2::Api');
    expect(api).toBeDefined();
    expect(api).not.toHaveProperty('CorsConfiguration');
  });

  it('sends each route to the function the route table names', () => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const functionOfIntegration = new Map(
      Object.entries(integrations).map(([id, r]) => [id, JSON.stringify(r.Properties.IntegrationUri)]),
    );
    const actual = properties('AWS::ApiGatewayV2::Route').map((r) => {
      const target = r.Target as { 'Fn::Join': [string, [string, { Ref: string }]] };
      return [r.RouteKey, functionOfIntegration.get(target['Fn::Join'][1][1].Ref)];
    });
    // (a preflight the route table carries itself counts once)
    const expected = new Map(
      [...ROUTES, ...PREFLIGHT_ROUTES].map((route) => [
        apiRouteKey(route),
        JSON.stringify({ 'Fn::GetAtt': [logicalId(fn(route.function)), 'Arn'] }),
      ]),
    );
    expect(actual.sort()).toEqual([...expected].sort());
  });

  it('has a throttled $default stage writing JSON access logs', () => {
    const stages = properties('AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const stage = stages[0] ?? {};
    expect(stage).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: expect.any(Number),
        ThrottlingBurstLimit: expect.any(Number),
      },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [logicalId(stack.api.accessLogs), 'Arn'] } },
    });
    const format = JSON.parse((stage.AccessLogSettings as { Format: string }).Format) as Record<
      string,
      string
    >;
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    const accessLogs = template.toJSON().Resources[logicalId(stack.api.accessLogs)].Properties;
    expect(accessLogs.RetentionInDays).toBeGreaterThan(0);
  });

  it('gives every function the API endpoint as BASE_URL when there is no custom domain', () => {
    for (const [name] of ALL_ENTRIES) {
      const env = template.toJSON().Resources[logicalId(fn(name))].Properties.Environment.Variables;
      expect(env.BASE_URL).toEqual({ 'Fn::GetAtt': [logicalId(stack.api.httpApi), 'ApiEndpoint'] });
    }
  });
});

describe('the functions', () => {
  it('are one per FUNCTIONS entry, plus the background functions', () => {
    const expected = [...Object.keys(FUNCTIONS), ...Object.keys(BACKGROUND_FUNCTIONS)];
    expect([...stack.functions.keys()].sort()).toEqual([...new Set(expected)].sort());
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toHaveLength(stack.functions.size);
  });

  it.each(ALL_ENTRIES)('%s: Node 22 on arm64, traced, sized by its spec', (name, spec) => {
    const props = template.toJSON().Resources[logicalId(fn(name))].Properties;
    expect(props).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      MemorySize: spec.memoryMb,
      Timeout: spec.timeoutSeconds,
      Handler: 'index.handler',
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logicalId(fn(name).logGroup) } },
    });
    expect(props.Environment.Variables).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: `sso-${name}`,
      POWERTOOLS_METRICS_NAMESPACE: 'SSO',
    });
  });

  it.each(ALL_ENTRIES)('%s: gets exactly the variables its spec calls for', (name, spec) => {
    const env = template.toJSON().Resources[logicalId(fn(name))].Properties.Environment.Variables;
    expect('ALLOW_PRIVATE_URLS' in env).toBe(false);
    expect('TABLE_NAME' in env).toBe(spec.table !== 'none');
    expect('OPERATOR_TOKEN_SECRET_ID' in env).toBe(spec.secrets.operatorToken !== undefined);
    expect('SESSION_KEYS_SECRET_ID' in env).toBe(spec.secrets.sessionKeys !== undefined);
    expect('OAUTH_KEYS_SECRET_ID' in env).toBe(spec.secrets.oauthKeys !== undefined);
    // Connection and application secrets both live under the prefix.
    expect('SECRETS_PREFIX' in env).toBe(
      spec.secrets.connections !== undefined || spec.secrets.applications !== undefined,
    );
    expect('EVENT_BUS_NAME' in env).toBe(spec.events);
    expect('MAIL_FROM' in env).toBe(spec.mail);
    // Without a directory network (no ldapVpcId), no function has private ranges; with one, the
    // functions that declare `directory` do (test/infra/constructs.test.ts).
    expect('PRIVATE_DIRECTORY_CIDRS' in env).toBe(false);
    if (spec.table !== 'none') expect(env.TABLE_NAME).toEqual({ Ref: logicalId(stack.data.table) });
    if (spec.secrets.operatorToken)
      expect(env.OPERATOR_TOKEN_SECRET_ID).toEqual({ Ref: logicalId(stack.data.operatorToken) });
    if (spec.secrets.sessionKeys)
      expect(env.SESSION_KEYS_SECRET_ID).toEqual({ Ref: logicalId(stack.data.sessionKeys) });
    if (spec.secrets.oauthKeys)
      expect(env.OAUTH_KEYS_SECRET_ID).toEqual({ Ref: logicalId(stack.data.oauthKeys) });
    if (spec.secrets.connections || spec.secrets.applications) expect(env.SECRETS_PREFIX).toBe('sso/test');
  });

  it.each(ALL_ENTRIES)('%s: outside any VPC when the deployment gives no directory network', (name) => {
    expect(template.toJSON().Resources[logicalId(fn(name))].Properties.VpcConfig).toBeUndefined();
  });

  it('declare directory for LDAP login, the admin API and the console (live test, directory groups), session refresh and the OP (refresh)', () => {
    expect(ALL_ENTRIES.filter(([, spec]) => spec.directory).map(([name]) => name)).toEqual([
      'admin',
      'console',
      'ldap-login',
      'session',
      'oauth',
    ]);
  });

  it.each(ALL_ENTRIES)('%s: own log group with a retention', (name) => {
    const logGroup = template.toJSON().Resources[logicalId(fn(name).logGroup)];
    expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
    expect(logGroup.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it.each(ALL_ENTRIES)(
    '%s: bundled as minified ESM with the require banner and a source map, the AWS SDK inside unless listed, within its budget',
    (name) => {
      const dir = assetDir(name);
      const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(
        bundle.startsWith(
          "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
        ),
      ).toBe(true);
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
      // The AWS SDK is bundled (the lock's version, tree-shaken) except where that would pass 1 MB.
      const sdkImported = /\bfrom"@aws-sdk\//.test(bundle);
      expect(sdkImported).toBe(RUNTIME_SDK.has(name));
      expect(Buffer.byteLength(bundle)).toBeLessThanOrEqual(bundleBudget(name));
    },
  );

  it.each(ALL_ENTRIES)('%s: the SES client in the bundle only when the spec declares mail', (name, spec) => {
    const bundle = readFileSync(join(assetDir(name), 'index.mjs'), 'utf8');
    // SendEmail's HTTP path comes with the client's schemas; elsewhere the stand-in leaves
    // nothing of the package, not even an import to load at run time.
    // (a function on the runtime's SDK imports the client instead of carrying it)
    const carried = bundle.includes('/v2/email/outbound-emails');
    const imported = /\bfrom"@aws-sdk\/client-sesv2"/.test(bundle);
    expect(carried || imported).toBe(spec.mail);
    expect(imported).toBe(spec.mail && RUNTIME_SDK.has(name));
    if (!spec.mail) expect(bundle).not.toContain('@aws-sdk/client-sesv2');
  });
});

describe('IAM: least privilege from each spec', () => {
  const TABLE_READ = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'];
  const TABLE_WRITE = [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:ConditionCheckItem',
  ];
  const on = (actions: string[], resources: string[]) =>
    actions.flatMap((action) => resources.map((resource) => `${action} on ${resource}`));

  /**
   * What the spec says the role may do, written out independently of infra/function.ts; a function
   * EventBridge invokes also sends what it failed on to the dead-letter queue (its async-invoke
   * failure destination).
   */
  function expectedGrants(name: string, spec: FunctionSpec): string[] {
    const grants = [
      ...on(['logs:CreateLogStream', 'logs:PutLogEvents'], ['own-log-group']),
      ...on(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], ['*']),
    ];
    if (spec.table !== 'none') {
      const actions = spec.table === 'readWrite' ? [...TABLE_READ, ...TABLE_WRITE] : TABLE_READ;
      grants.push(...on(actions, ['table', `table/index/${TABLE.gsi1.indexName}`]));
    }
    if (spec.secrets.operatorToken) grants.push(...on(['secretsmanager:GetSecretValue'], ['operator-token']));
    if (spec.secrets.sessionKeys) {
      const actions = ['secretsmanager:GetSecretValue'];
      if (spec.secrets.sessionKeys === 'rotate') actions.push('secretsmanager:PutSecretValue');
      grants.push(...on(actions, ['session-keys']));
    }
    if (spec.secrets.oauthKeys) {
      const actions = ['secretsmanager:GetSecretValue'];
      if (spec.secrets.oauthKeys === 'rotate') actions.push('secretsmanager:PutSecretValue');
      grants.push(...on(actions, ['oauth-keys']));
    }
    // secrets the code creates under a name prefix: read, or manage (create, read, delete, tag)
    const prefixActions = (access: 'read' | 'manage') =>
      access === 'manage'
        ? [
            'secretsmanager:CreateSecret',
            'secretsmanager:GetSecretValue',
            'secretsmanager:DeleteSecret',
            'secretsmanager:TagResource',
          ]
        : ['secretsmanager:GetSecretValue'];
    if (spec.secrets.connections)
      grants.push(...on(prefixActions(spec.secrets.connections), ['connection-secrets']));
    if (spec.secrets.applications) {
      grants.push(...on(prefixActions(spec.secrets.applications), ['application-secrets']));
    }
    if (spec.events) grants.push('events:PutEvents on bus');
    if (spec.mail) grants.push(...on(['ses:SendEmail'], ['ses-identity', 'ses-configuration-set']));
    if (name in BACKGROUND_FUNCTIONS) {
      grants.push(
        ...on(['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], ['dead-letter-queue']),
      );
    }
    return [...new Set(grants)].sort();
  }

  function grantsOfFunction(name: string) {
    const f = fn(name);
    const role = f.role;
    if (!role) throw new Error(`${name} has no role`);
    const labels = resourceLabels(stack, {
      table: stack.data.table.tableArn,
      [`table/index/${TABLE.gsi1.indexName}`]: `${stack.data.table.tableArn}/index/${TABLE.gsi1.indexName}`,
      'operator-token': stack.data.operatorToken.secretArn,
      'session-keys': stack.data.sessionKeys.secretArn,
      'oauth-keys': stack.data.oauthKeys.secretArn,
      'connection-secrets': `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:sso/test/tenants/*`,
      'application-secrets': `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:sso/test/applications/*`,
      bus: stack.events.bus.eventBusArn,
      'dead-letter-queue': stack.events.deadLetterQueue.queueArn,
      'ses-identity': `arn:${stack.partition}:ses:${stack.region}:${stack.account}:identity/sso.example.com`,
      'ses-configuration-set': `arn:${stack.partition}:ses:${stack.region}:${stack.account}:configuration-set/sso-test`,
      'own-log-group': f.logGroup.logGroupArn,
    });
    return grantsOf(template, logicalId(role), labels);
  }

  it.each(ALL_ENTRIES)('%s: the role allows exactly what the spec names', (name, spec) => {
    expect(sortGrants(grantsOfFunction(name))).toEqual(expectedGrants(name, spec));
  });

  it.each(ALL_ENTRIES)('%s: no managed policies, and no wildcard resource outside X-Ray', (name) => {
    const role = fn(name).role;
    if (!role) throw new Error(`${name} has no role`);
    expect(template.toJSON().Resources[logicalId(role)].Properties.ManagedPolicyArns).toBeUndefined();
    const wildcards = grantsOfFunction(name).filter(
      (g) => g.resource === '*' && !g.action.startsWith('xray:'),
    );
    expect(wildcards).toEqual([]);
  });

  it('health touches no table, secret, bus or mail', () => {
    const grants = grantsOfFunction('health');
    expect(grants.filter((g) => /^(dynamodb|secretsmanager|events|ses):/.test(g.action))).toEqual([]);
  });

  it.each(ALL_ENTRIES)(
    '%s: MAIL_FROM and the SES grant exactly when the spec declares mail',
    (name, spec) => {
      const env = template.toJSON().Resources[logicalId(fn(name))].Properties.Environment.Variables;
      const sesGrants = grantsOfFunction(name).filter((g) => g.action.startsWith('ses:'));
      if (spec.mail) {
        expect(env).toMatchObject({
          MAIL_FROM: 'no-reply@sso.example.com',
          MAIL_CONFIGURATION_SET: 'sso-test',
        });
        expect(sortGrants(sesGrants)).toEqual([
          'ses:SendEmail on ses-configuration-set',
          'ses:SendEmail on ses-identity',
        ]);
      } else {
        expect(env).not.toHaveProperty('MAIL_FROM');
        expect(env).not.toHaveProperty('MAIL_CONFIGURATION_SET');
        expect(sesGrants).toEqual([]);
      }
    },
  );

  it('sends mail only from the configured sender address (ses:FromAddress)', () => {
    const sesStatements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (
        policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Condition?: unknown }[]
      ).filter((statement) => [statement.Action].flat().some((action) => action.startsWith('ses:'))),
    );
    expect(sesStatements.length).toBe(ALL_ENTRIES.filter(([, spec]) => spec.mail).length);
    for (const statement of sesStatements) {
      expect(statement).toMatchObject({
        Effect: 'Allow',
        Action: 'ses:SendEmail',
        Condition: { StringEquals: { 'ses:FromAddress': 'no-reply@sso.example.com' } },
      });
    }
  });

  it('declares mail for the invitation (admin, console) and password-reset functions, and not for sign-in', () => {
    expect(ALL_ENTRIES.filter(([, spec]) => spec.mail).map(([name]) => name)).toEqual([
      'admin',
      'console',
      'password-reset',
    ]);
  });

  it('admin may write the table and manage connection secrets, and nothing beyond its spec', () => {
    const grants = sortGrants(grantsOfFunction('admin'));
    expect(grants).toEqual(
      expect.arrayContaining(['dynamodb:PutItem on table', 'dynamodb:ConditionCheckItem on table']),
    );
    expect(grants).toContain('secretsmanager:CreateSecret on connection-secrets');
    // Connection-secret grants stop at the tenants/ path: the operator token is not under it.
    expect(grants).not.toContain('secretsmanager:CreateSecret on operator-token');
    const resources = new Set(grantsOfFunction('admin').map((g) => g.resource));
    expect([...resources].sort()).toEqual(
      [
        '*',
        'application-secrets',
        'bus',
        'connection-secrets',
        'operator-token',
        'own-log-group',
        'ses-configuration-set',
        'ses-identity',
        'session-keys',
        'table',
        'table/index/gsi1',
      ].sort(),
    );
  });
});

describe('IAM: the OpenID Provider', () => {
  const labels = () =>
    resourceLabels(stack, {
      'oauth-keys': stack.data.oauthKeys.secretArn,
      'session-keys': stack.data.sessionKeys.secretArn,
    });
  const secretGrants = (name: string) => {
    const role = fn(name).role;
    if (!role) throw new Error(`${name} has no role`);
    return sortGrants(grantsOf(template, logicalId(role), labels())).filter(
      (g) => g.includes('oauth-keys') || g.includes('session-keys'),
    );
  };

  it('oauth may read and rotate the OP keys, and only read the session keys', () => {
    expect(secretGrants('oauth')).toEqual([
      'secretsmanager:GetSecretValue on oauth-keys',
      'secretsmanager:GetSecretValue on session-keys',
      'secretsmanager:PutSecretValue on oauth-keys',
    ]);
  });

  it('oauth-logout may only read the OP keys', () => {
    expect(secretGrants('oauth-logout')).toEqual(['secretsmanager:GetSecretValue on oauth-keys']);
  });
});

describe('the table', () => {
  it('is built from the TABLE constants: keys, GSI, TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE.sortKey, AttributeType: 'S' },
        { AttributeName: TABLE.gsi1.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE.gsi1.sortKey, AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE.gsi1.indexName,
          KeySchema: [
            { AttributeName: TABLE.gsi1.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE.gsi1.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
    });
  });

  it('is on demand, encrypted, recoverable, protected and retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        // SSE on without a key id: the AWS-managed key (aws/dynamodb), not the AWS-owned default.
        SSESpecification: { SSEEnabled: true },
      }),
    });
  });
});

describe('the secrets', () => {
  it('generate a long operator token without punctuation', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'sso/test/operator-token',
      GenerateSecretString: Match.objectLike({ PasswordLength: 64, ExcludePunctuation: true }),
    });
  });

  it('start the session keys as an empty key list for the code to fill', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'sso/test/session-keys',
      SecretString: JSON.stringify({ keys: [] }),
    });
  });

  it('start the OpenID Provider keys as an empty key list too, kept when the stack is deleted', () => {
    const secret = template.toJSON().Resources[logicalId(stack.data.oauthKeys)];
    expect(secret).toMatchObject({
      Type: 'AWS::SecretsManager::Secret',
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: { Name: 'sso/test/oauth-keys', SecretString: JSON.stringify({ keys: [] }) },
    });
    expect(secret.Properties).not.toHaveProperty('GenerateSecretString');
  });
});

describe('events', () => {
  it('have a bus, and a rule sending every `sso` event towards the audit consumer', () => {
    const rule = template.toJSON().Resources[logicalId(stack.events.auditRule)].Properties;
    expect(rule.EventBusName).toEqual({ Ref: logicalId(stack.events.bus) });
    expect(rule.EventPattern).toEqual({ source: ['sso'] });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(fn('audit-consumer')), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.events.deadLetterQueue), 'Arn'] } },
        RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: expect.any(Number) }),
      }),
    ]);
  });

  it('have a rule sending ended sessions (detail-type session.revoked) to the back-channel logout', () => {
    const rule = template.toJSON().Resources[logicalId(stack.events.sessionRevokedRule)].Properties;
    expect(rule.EventBusName).toEqual({ Ref: logicalId(stack.events.bus) });
    expect(rule.EventPattern).toEqual({ source: ['sso'], 'detail-type': ['session.revoked'] });
    // As durable as the audit rule: the same retries, the same dead-letter queue.
    const audit = template.toJSON().Resources[logicalId(stack.events.auditRule)].Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(fn('oauth-logout')), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.events.deadLetterQueue), 'Arn'] } },
        RetryPolicy: audit.Targets[0].RetryPolicy,
      }),
    ]);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(fn('oauth-logout')) },
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack.events.deadLetterQueue), 'Arn'] } },
      },
    });
  });

  it('have a six-hourly schedule for the SAML metadata refresh', () => {
    const rule = template.toJSON().Resources[logicalId(stack.events.metadataRefreshRule)].Properties;
    expect(rule.ScheduleExpression).toBe('rate(6 hours)');
    expect(rule.Targets).toEqual([
      expect.objectContaining({ Arn: { 'Fn::GetAtt': [logicalId(fn('saml-metadata-refresh')), 'Arn'] } }),
    ]);
  });

  it('have an encrypted, TLS-only dead-letter queue', () => {
    const queueId = logicalId(stack.events.deadLetterQueue);
    expect(template.toJSON().Resources[queueId].Properties).toMatchObject({ SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('observability', () => {
  const alarms = () => properties('AWS::CloudWatch::Alarm');

  it('has a dashboard with logins, failures, functions, the table and the API', () => {
    const body = JSON.stringify(properties('AWS::CloudWatch::Dashboard')[0]?.DashboardBody);
    for (const piece of [
      'LoginSucceeded',
      'LoginFailed',
      'SEARCH(',
      'p50',
      'p99',
      'Errors',
      'Throttles',
      'ConcurrentExecutions',
      'SuccessfulRequestLatency',
      'ThrottleEvents',
      '4xx',
      '5xx',
      'Latency',
      'SamlCertificateDaysToExpiry',
      "PROP('Dim.Reason')",
      'OAuthTokenIssued',
      "PROP('Dim.Grant')",
      'OAuthRefreshReuse',
      'BackchannelLogoutFailed',
    ]) {
      expect(body).toContain(piece);
    }
  });

  /** The alarms a row of ALARMS stands for: its own, or one per deployed function. */
  const alarmsOfRow = (row: (typeof ALARMS)[number]) =>
    row.per === 'stack'
      ? [{ name: kebab(row.id), means: meaning(row) }]
      : [...stack.functions.keys()].map((name) => ({
          name: `${name}-${kebab(row.id)}`,
          means: meaning(row, name),
        }));

  it.each(ALARMS.map((row) => [row.id, row] as const))(
    '%s: exactly one alarm in the template (one per function for a row per function), as its row says',
    (_, row) => {
      for (const { name, means } of alarmsOfRow(row)) {
        const found = alarms().filter((a) => a.AlarmName === `sso-test-${name}`);
        expect(found, name).toHaveLength(1);
        const alarm = found[0] ?? {};
        expect(alarm, name).toMatchObject({
          Threshold: row.threshold,
          ComparisonOperator: row.comparison,
          EvaluationPeriods: row.evaluation.periods,
          TreatMissingData: row.evaluation.missing,
          AlarmDescription: `${means} See docs/operations.md, "When an alarm fires".`,
        });
        expect(alarm.DatapointsToAlarm, name).toBe(row.evaluation.breaching);
        // Every metric of the alarm (a math expression's too) has the row's period.
        const periods = [...JSON.stringify(alarm).matchAll(/"Period":(\d+)/g)].map((m) => Number(m[1]));
        expect(periods.length, name).toBeGreaterThan(0);
        expect(new Set(periods), name).toEqual(new Set([row.evaluation.period.toSeconds()]));
      }
    },
  );

  it('has no alarm that is not a row of the table', () => {
    expect(alarms()).toHaveLength(ALARMS.flatMap(alarmsOfRow).length);
  });

  it('names the alarms as docs/operations.md does', () => {
    const names = alarms().map((a) => a.AlarmName);
    const expected = [
      'api-server-error-rate',
      'table-throttles',
      'dead-letter-queue-not-empty',
      'login-failure-spike',
      'saml-certificate-expiring',
      'saml-sp-certificate-expiring',
      'oauth-refresh-reuse',
      'backchannel-logout-failures',
      ...[...stack.functions.keys()].map((name) => `${name}-errors`),
    ].map((name) => `sso-test-${name}`);
    expect([...names].sort()).toEqual(expected.sort());
  });

  it('alarms on each function’s errors', () => {
    for (const [name] of ALL_ENTRIES) {
      expect(alarms()).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn(name)) } }],
        }),
      );
    }
  });

  it('alarms on the API 5xx rate, table throttling, dead letters, login failures and certificate expiry', () => {
    const all = JSON.stringify(alarms());
    expect(all).toContain('"MetricName":"5xx"');
    expect(all).toContain('ThrottleEvents');
    expect(alarms()).toContainEqual(
      expect.objectContaining({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [logicalId(stack.events.deadLetterQueue), 'QueueName'] },
          },
        ],
      }),
    );
    expect(alarms()).toContainEqual(
      expect.objectContaining({
        Metrics: [expect.objectContaining({ Expression: 'SELECT SUM(LoginFailed) FROM "SSO"' })],
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    );
    expect(alarms()).toContainEqual(
      expect.objectContaining({
        Metrics: [
          expect.objectContaining({ Expression: 'SELECT MIN(SamlCertificateDaysToExpiry) FROM "SSO"' }),
        ],
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 30,
      }),
    );
  });

  it('alarms on refresh-token reuse (5 in 5 minutes) and on back-channel logout failures (2 periods of 15 minutes)', () => {
    const byName = (name: string) => alarms().find((a) => a.AlarmName === `sso-test-${name}`);
    expect(byName('oauth-refresh-reuse')).toMatchObject({
      Metrics: [
        expect.objectContaining({ Expression: 'SELECT SUM(OAuthRefreshReuse) FROM "SSO"', Period: 300 }),
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 5,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(byName('backchannel-logout-failures')).toMatchObject({
      Metrics: [
        expect.objectContaining({
          Expression: 'SELECT SUM(BackchannelLogoutFailed) FROM "SSO"',
          Period: 900,
        }),
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 2,
      TreatMissingData: 'notBreaching',
    });
  });

  it('sends every alarm to the alarm topic, which refuses plain HTTP', () => {
    const topic = { Ref: logicalId(stack.observability.alarmTopic) };
    for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([topic]);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    // No e-mail subscription unless alarmEmail is given.
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('outputs', () => {
  it('give the base URL, the operator-token secret and the dashboard', () => {
    template.hasOutput('BaseUrl', { Value: { 'Fn::GetAtt': [logicalId(stack.api.httpApi), 'ApiEndpoint'] } });
    template.hasOutput('OperatorTokenSecretArn', { Value: { Ref: logicalId(stack.data.operatorToken) } });
    template.hasOutput('DashboardUrl', { Value: Match.anyValue() });
  });

  it('give what the operations guide’s commands read', () => {
    for (const name of [
      'SessionKeysSecretArn',
      'OAuthKeysSecretArn',
      'DeadLetterQueueUrl',
      'EventBusArn',
      'EventArchiveArn',
      'AuditRuleArn',
      'SessionRevokedRuleArn',
    ]) {
      template.hasOutput(name, { Value: Match.anyValue() });
    }
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the AwsSolutions pack', () => {
    expect(nagFindings(app)).toEqual([]);
  });
});
