import { App, Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { readStackConfig } from '../../infra/context.ts';
import { cdkJsonContext, nagFindings } from './helpers.ts';

const reader =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

/** The one required setting: the sender of invitation and password-reset mail. */
const MAIL = { mailFrom: 'no-reply@sso.example.com' };
const DEFAULT_MAIL = { from: 'no-reply@sso.example.com', identity: 'sso.example.com' };

describe('readStackConfig', () => {
  it('defaults to the prod stage with nothing optional', () => {
    expect(readStackConfig(reader(MAIL))).toEqual({ stage: 'prod', mail: DEFAULT_MAIL });
    expect(readStackConfig(reader({ ...cdkJsonContext(), ...MAIL }))).toEqual({
      stage: 'prod',
      mail: DEFAULT_MAIL,
    });
  });

  it('needs the mail sender, and derives the SES identity from its domain', () => {
    expect(() => readStackConfig(reader({}))).toThrow(/"mailFrom" is required/);
    expect(readStackConfig(reader({ mailFrom: 'SSO@Mail.Example.com' })).mail).toEqual({
      from: 'SSO@Mail.Example.com',
      identity: 'mail.example.com',
    });
  });

  it('takes the SES identity as the address, its domain or a parent domain, and a configuration set', () => {
    const mail = (values: Record<string, unknown>) =>
      readStackConfig(reader({ mailFrom: 'no-reply@mail.example.com', ...values })).mail;
    expect(mail({ sesIdentity: 'no-reply@mail.example.com' }).identity).toBe('no-reply@mail.example.com');
    expect(mail({ sesIdentity: 'example.com' }).identity).toBe('example.com');
    expect(mail({ mailConfigurationSet: 'sso-prod' })).toEqual({
      from: 'no-reply@mail.example.com',
      identity: 'mail.example.com',
      configurationSet: 'sso-prod',
    });
  });

  it('reads every optional setting', () => {
    const config = readStackConfig(
      reader({
        ...MAIL,
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
      mail: DEFAULT_MAIL,
    });
  });

  it('reads the private ranges where directories live, only with the VPC', () => {
    const config = readStackConfig(
      reader({
        ...MAIL,
        ldapVpcId: 'vpc-1',
        ldapSubnetIds: ['subnet-a'],
        ldapDirectoryCidrs: '10.20.0.0/16, 192.168.5.0/24',
      }),
    );
    expect(config.ldapNetwork?.directoryCidrs).toEqual(['10.20.0.0/16', '192.168.5.0/24']);
    expect(() => readStackConfig(reader({ ...MAIL, ldapDirectoryCidrs: '10.0.0.0/8' }))).toThrow(/ldapVpcId/);
    expect(() =>
      readStackConfig(
        reader({ ...MAIL, ldapVpcId: 'vpc-1', ldapSubnetIds: ['s'], ldapDirectoryCidrs: 'ten' }),
      ),
    ).toThrow(/CIDR/);
  });

  it('takes subnet ids as a list too (cdk.json)', () => {
    const config = readStackConfig(reader({ ...MAIL, ldapVpcId: 'vpc-1', ldapSubnetIds: ['subnet-a'] }));
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
    [{ mailFrom: 'nobody' }, /mailFrom/],
    [{ mailFrom: 'SSO <no-reply@sso.example.com>' }, /mailFrom/],
    [{ sesIdentity: 'other.example.com' }, /sesIdentity/],
    [{ sesIdentity: 'example.org' }, /sesIdentity/],
    [{ sesIdentity: 'com' }, /sesIdentity/],
    [{ sesIdentity: 'someone@sso.example.com' }, /sesIdentity/],
    [{ mailConfigurationSet: 'has space' }, /mailConfigurationSet/],
  ])('refuses %j', (values, message) => {
    expect(() => readStackConfig(reader({ ...MAIL, ...values }))).toThrow(message);
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
