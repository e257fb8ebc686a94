import { Stack } from 'aws-cdk-lib';
import { Peer, Port, SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { StackConfig } from './context.ts';
import type { FunctionNetwork } from './function.ts';

/**
 * The existing VPC the functions whose spec declares `directory` join to reach a directory on a
 * private network, with the private ranges they may open there. It is imported from ids given in
 * context, never looked up, so `cdk synth` stays offline. The construct ids and the group's
 * description keep their first wording (`Ldap…`): changing them would replace deployed resources.
 */
export function directoryNetwork(
  scope: Construct,
  settings: NonNullable<StackConfig['ldapNetwork']>,
): FunctionNetwork {
  // The functions name their subnets explicitly, so the VPC's AZ list (the region's, as tokens in
  // this environment-agnostic stack) is never used to pick subnets.
  const vpc = Vpc.fromVpcAttributes(scope, 'LdapVpc', {
    vpcId: settings.vpcId,
    availabilityZones: Stack.of(scope).availabilityZones,
  });
  const subnets = settings.subnetIds.map((id, i) => Subnet.fromSubnetId(scope, `LdapSubnet${i}`, id));
  const securityGroup = new SecurityGroup(scope, 'LdapFunctions', {
    vpc,
    description: 'SSO LDAP functions: out to directories (ldaps, ldap+StartTLS) and AWS APIs only',
    allowAllOutbound: false,
  });
  // Directory hosts are tenant-supplied, so the destination cannot be narrowed here; the ports can.
  securityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(636), 'LDAPS');
  securityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(389), 'LDAP with StartTLS');
  // DynamoDB, Secrets Manager, EventBridge, SES and X-Ray, through a NAT gateway or VPC endpoints;
  // also the HTTPS URLs of tenants' identity providers (the admin API's checks).
  securityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'AWS APIs over HTTPS');
  return { vpc, subnets, securityGroup, directoryCidrs: settings.directoryCidrs ?? [] };
}
