import { App, Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { writtenBackgroundFunctions } from '../../infra/background.ts';
import { readStackConfig } from '../../infra/context.ts';
import { cdkJsonContext, nagFindings } from './helpers.ts';

const reader =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

describe('readStackConfig', () => {
  it('defaults to the prod stage with nothing optional', () => {
    expect(readStackConfig(reader({}))).toEqual({ stage: 'prod' });
    expect(readStackConfig(reader(cdkJsonContext()))).toEqual({ stage: 'prod' });
  });

  it('reads every optional setting', () => {
    const config = readStackConfig(
      reader({
        stage: 'staging',
        domainName: 'SSO.Example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
        alarmEmail: 'ops@example.com',
        ldapVpcId: 'vpc-0123',
        ldapSubnetIds: 'subnet-a, subnet-b',
      }),
    );
    expect(config).toEqual({
      stage: 'staging',
      domain: {
        name: 'sso.example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
      },
      alarmEmail: 'ops@example.com',
      ldapNetwork: { vpcId: 'vpc-0123', subnetIds: ['subnet-a', 'subnet-b'] },
    });
  });

  it('reads the private ranges where directories live, only with the VPC', () => {
    const config = readStackConfig(
      reader({
        ldapVpcId: 'vpc-1',
        ldapSubnetIds: ['subnet-a'],
        ldapDirectoryCidrs: '10.20.0.0/16, 192.168.5.0/24',
      }),
    );
    expect(config.ldapNetwork?.directoryCidrs).toEqual(['10.20.0.0/16', '192.168.5.0/24']);
    expect(() => readStackConfig(reader({ ldapDirectoryCidrs: '10.0.0.0/8' }))).toThrow(/ldapVpcId/);
    expect(() =>
      readStackConfig(reader({ ldapVpcId: 'vpc-1', ldapSubnetIds: ['s'], ldapDirectoryCidrs: 'ten' })),
    ).toThrow(/CIDR/);
  });

  it('takes subnet ids as a list too (cdk.json)', () => {
    const config = readStackConfig(reader({ ldapVpcId: 'vpc-1', ldapSubnetIds: ['subnet-a'] }));
    expect(config.ldapNetwork).toEqual({ vpcId: 'vpc-1', subnetIds: ['subnet-a'] });
  });

  it.each([
    [{ stage: 'Prod' }, /stage/],
    [{ stage: 'a'.repeat(21) }, /stage/],
    [{ domainName: 'sso.example.com' }, /domainName.*certificateArn/],
    [{ certificateArn: 'arn:aws:acm:eu-west-1:1:certificate/x' }, /domainName.*certificateArn/],
    [{ domainName: 'sso.example.com', certificateArn: 'not-an-arn' }, /ACM ARN/],
    [{ alarmEmail: 'nobody' }, /alarmEmail/],
    [{ ldapVpcId: 'vpc-1' }, /ldapVpcId.*ldapSubnetIds/],
    [{ ldapSubnetIds: 'subnet-a' }, /ldapVpcId.*ldapSubnetIds/],
    [{ ldapVpcId: 'vpc-1', ldapSubnetIds: [1] }, /ldapSubnetIds/],
  ])('refuses %j', (values, message) => {
    expect(() => readStackConfig(reader(values))).toThrow(message);
  });
});

describe('background functions', () => {
  it('are deployed only when their handler file exists', () => {
    expect(writtenBackgroundFunctions(() => false)).toEqual([]);
    expect(writtenBackgroundFunctions((path) => path.endsWith('/functions/audit-consumer.ts'))).toEqual([
      'audit-consumer',
    ]);
  });
});

describe('the cdk-nag helper', () => {
  it('does report findings (so an empty list in the stack tests means something)', () => {
    const app = new App();
    new Queue(new Stack(app, 'Bare'), 'Queue');
    expect(nagFindings(app)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^AwsSolutions-SQS3 /),
        expect.stringMatching(/^AwsSolutions-SQS4 /),
      ]),
    );
  });
});
