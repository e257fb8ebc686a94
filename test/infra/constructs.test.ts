import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { preflightRoutes } from '../../infra/api.ts';
import { BACKGROUND_FUNCTIONS } from '../../infra/background.ts';
import { readStackConfig } from '../../infra/context.ts';
import { Events } from '../../infra/events.ts';
import { SsoFunction } from '../../infra/function.ts';
import { directoryNetwork } from '../../infra/network.ts';
import { SsoStack } from '../../infra/stack.ts';
import { FUNCTIONS, type FunctionSpec } from '../../shared/routes.ts';
import { cdkJsonContext, nagFindings, SKIP_BUNDLING } from './helpers.ts';

/** These tests look at wiring only, so esbuild is skipped; test/infra/stack.test.ts bundles for real. */
const newApp = (context: Record<string, unknown> = {}) =>
  new App({ context: { ...cdkJsonContext(), ...SKIP_BUNDLING, ...context } });

function logicalId(stack: Stack, construct: IConstruct): string {
  const resource = construct.node.defaultChild;
  if (!(resource instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return stack.getLogicalId(resource);
}

describe('a function in the directory VPC', () => {
  const app = newApp();
  const stack = new Stack(app, 'VpcProbe');
  const network = directoryNetwork(stack, {
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
  });
  const fn = new SsoFunction(stack, 'Probe', {
    name: 'health',
    spec: FUNCTIONS.health,
    environment: {},
    network,
  });
  const template = Template.fromStack(stack);

  it('runs in the given subnets with the LDAP security group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
        SecurityGroupIds: [{ 'Fn::GetAtt': [logicalId(stack, network.securityGroup), 'GroupId'] }],
      },
    });
  });

  it('may only leave for LDAP, LDAPS and HTTPS', () => {
    const group = template.toJSON().Resources[logicalId(stack, network.securityGroup)].Properties;
    const ports = (
      group.SecurityGroupEgress as { IpProtocol: string; FromPort: number; ToPort: number }[]
    ).map((rule) => `${rule.IpProtocol}/${rule.FromPort}-${rule.ToPort}`);
    expect(ports.sort()).toEqual(['tcp/389-389', 'tcp/443-443', 'tcp/636-636']);
    expect(group.SecurityGroupIngress).toBeUndefined();
  });

  it('gets no PRIVATE_DIRECTORY_CIDRS when the network names no directory ranges', () => {
    const env = template.toJSON().Resources[logicalId(stack, fn)].Properties.Environment.Variables;
    expect(env).not.toHaveProperty('PRIVATE_DIRECTORY_CIDRS');
  });

  it('has the VPC access policy Lambda needs for its network interfaces', () => {
    const role = fn.role;
    if (!role) throw new Error('no role');
    expect(
      JSON.stringify(template.toJSON().Resources[logicalId(stack, role)].Properties.ManagedPolicyArns),
    ).toContain('service-role/AWSLambdaVPCAccessExecutionRole');
  });

  it('passes cdk-nag', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});

describe('event targets', () => {
  const app = newApp();
  const stack = new Stack(app, 'EventsProbe');
  const events = new Events(stack, 'Events');
  const probe = (id: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => {};'),
    });
  const consumer = probe('Consumer');
  const refresh = probe('Refresh');
  const logout = probe('Logout');
  events.deliverAuditTo(consumer);
  events.scheduleMetadataRefresh(refresh);
  events.deliverSessionRevocationsTo(logout);
  const template = Template.fromStack(stack);
  const dlqArn = { 'Fn::GetAtt': [logicalId(stack, events.deadLetterQueue), 'Arn'] };

  it('deliver audit events to the consumer with retries and the dead-letter queue', () => {
    const rule = template.toJSON().Resources[logicalId(stack, events.auditRule)].Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(stack, consumer), 'Arn'] },
        DeadLetterConfig: { Arn: dlqArn },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
      }),
    ]);
  });

  it('run the metadata refresh on the schedule, also with the dead-letter queue', () => {
    const rule = template.toJSON().Resources[logicalId(stack, events.metadataRefreshRule)].Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(stack, refresh), 'Arn'] },
        DeadLetterConfig: { Arn: dlqArn },
        RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: expect.any(Number) }),
      }),
    ]);
  });

  it('deliver only ended sessions (detail-type session.revoked) to the back-channel logout, as durably as audit events', () => {
    const rule = template.toJSON().Resources[logicalId(stack, events.sessionRevokedRule)].Properties;
    // EventBridgePublisher puts a domain event's `type` as its DetailType.
    expect(rule.EventPattern).toEqual({ source: ['sso'], 'detail-type': ['session.revoked'] });
    expect(rule.EventBusName).toEqual({ Ref: logicalId(stack, events.bus) });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(stack, logout), 'Arn'] },
        DeadLetterConfig: { Arn: dlqArn },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
      }),
    ]);
  });

  it('send events a function failed on to the dead-letter queue as well', () => {
    for (const fn of [consumer, refresh, logout]) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: logicalId(stack, fn) },
        DestinationConfig: { OnFailure: { Destination: dlqArn } },
      });
    }
  });

  it('let EventBridge, and only for these rules, write to the dead-letter queue', () => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Condition: { ArnEquals: { 'aws:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });
});

describe('CORS preflight routes', () => {
  const routes = [
    { method: 'GET', path: '/.well-known/openid-configuration', function: 'oauth' },
    { method: 'POST', path: '/oauth/token', function: 'oauth' },
    { method: 'GET', path: '/session', function: 'session' },
    { method: 'POST', path: '/session', function: 'admin' },
  ] as const;

  it('go to the function the route table sends the path to', () => {
    expect(preflightRoutes(routes, ['/oauth/token', '/.well-known/openid-configuration'])).toEqual([
      { method: 'OPTIONS', path: '/oauth/token', function: 'oauth' },
      { method: 'OPTIONS', path: '/.well-known/openid-configuration', function: 'oauth' },
    ]);
  });

  it('leave a path to the route table when it carries the OPTIONS route itself', () => {
    const withPreflight = [
      ...routes,
      { method: 'OPTIONS', path: '/oauth/token', function: 'oauth' },
    ] as never[];
    expect(preflightRoutes(withPreflight, ['/oauth/token'])).toEqual([]);
  });

  it('refuse a path the route table does not have, or sends to two functions', () => {
    expect(() => preflightRoutes(routes, ['/oauth/nowhere'])).toThrow(/0 functions/);
    expect(() => preflightRoutes(routes, ['/session'])).toThrow(/2 functions/);
  });
});

describe('the stack with every optional setting', () => {
  const app = newApp({
    stage: 'staging',
    mailFrom: 'no-reply@sso.example.com',
    sesIdentity: 'example.com',
    domainName: 'sso.example.com',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
    alarmEmail: 'ops@example.com',
    ldapVpcId: 'vpc-0123456789abcdef0',
    ldapSubnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
    ldapDirectoryCidrs: '10.20.0.0/16,10.30.0.0/16',
  });
  const stack = new SsoStack(app, 'sso-staging', {
    config: readStackConfig((key) => app.node.tryGetContext(key)),
  });
  const template = Template.fromStack(stack);

  it('serves the custom domain and uses it as BASE_URL', () => {
    const domain = stack.api.domainName;
    if (!domain) throw new Error('no custom domain');
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'sso.example.com',
      DomainNameConfigurations: [
        Match.objectLike({ CertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' }),
      ],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: logicalId(stack, stack.api.httpApi) },
      DomainName: { Ref: logicalId(stack, domain) },
      Stage: '$default',
    });
    for (const fn of stack.functions.values()) {
      const env = template.toJSON().Resources[logicalId(stack, fn)].Properties.Environment.Variables;
      expect(env.BASE_URL).toBe('https://sso.example.com');
    }
    template.hasOutput('BaseUrl', { Value: 'https://sso.example.com' });
    template.hasOutput('CustomDomainTarget', { Value: Match.anyValue() });
  });

  it('subscribes the alarm e-mail address', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: logicalId(stack, stack.observability.alarmTopic) },
    });
  });

  const SPECS = Object.entries({ ...FUNCTIONS, ...BACKGROUND_FUNCTIONS }) as [string, FunctionSpec][];
  const fnNamed = (name: string) => {
    const found = stack.functions.get(name);
    if (!found) throw new Error(`no function ${name}`);
    return found;
  };

  it('deploys a function for every spec, so each capability below is checked on each', () => {
    expect([...stack.functions.keys()].sort()).toEqual(SPECS.map(([name]) => name).sort());
  });

  it.each(SPECS)(
    '%s: in the VPC, with PRIVATE_DIRECTORY_CIDRS, exactly when its spec declares directory',
    (name, spec) => {
      const fn = fnNamed(name);
      const props = template.toJSON().Resources[logicalId(stack, fn)].Properties;
      const role = fn.role;
      if (!role) throw new Error(`${name} has no role`);
      const managed = JSON.stringify(
        template.toJSON().Resources[logicalId(stack, role)].Properties.ManagedPolicyArns ?? [],
      );
      if (spec.directory) {
        const group = stack.directoryNetwork?.securityGroup;
        if (!group) throw new Error('no directory network');
        expect(props.VpcConfig).toEqual({
          SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
          SecurityGroupIds: [{ 'Fn::GetAtt': [logicalId(stack, group), 'GroupId'] }],
        });
        expect(props.Environment.Variables.PRIVATE_DIRECTORY_CIDRS).toBe('10.20.0.0/16,10.30.0.0/16');
        expect(managed).toContain('service-role/AWSLambdaVPCAccessExecutionRole');
      } else {
        expect(props.VpcConfig).toBeUndefined();
        expect(props.Environment.Variables).not.toHaveProperty('PRIVATE_DIRECTORY_CIDRS');
        expect(managed).not.toContain('AWSLambdaVPCAccessExecutionRole');
      }
    },
  );

  it('has one security group, the directory network’s', () => {
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
  });

  it('grants mail on the parent-domain identity it was given, with no configuration set', () => {
    for (const [name, fn] of stack.functions) {
      const env = template.toJSON().Resources[logicalId(stack, fn)].Properties.Environment.Variables;
      expect(env.MAIL_FROM, name).toBe(
        FUNCTIONS[name as keyof typeof FUNCTIONS]?.mail ? 'no-reply@sso.example.com' : undefined,
      );
      expect(env.MAIL_CONFIGURATION_SET, name).toBeUndefined();
    }
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'ses:SendEmail',
            Resource: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':ses:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':identity/example.com',
                ],
              ],
            },
            Condition: { StringEquals: { 'ses:FromAddress': 'no-reply@sso.example.com' } },
          },
        ]),
      },
    });
  });

  it('names its secrets after the stage', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'sso/staging/operator-token' });
  });

  it('passes cdk-nag', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
