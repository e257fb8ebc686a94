/**
 * The deployment's settings, read once from CDK context (`-c key=value` or cdk.json) and checked
 * before any construct exists, so a typo stops `cdk synth` with a message naming the key instead
 * of surfacing as a half-configured stack.
 */
export interface StackConfig {
  /** Names the stack and the secrets, e.g. `prod`, `staging`. */
  stage: string;
  /** Optional custom domain; the base URL (SAML entity IDs, OIDC redirect URIs) follows it. */
  domain?: { name: string; certificateArn: string };
  /** Optional e-mail address subscribed to the alarm topic. */
  alarmEmail?: string;
  /** Optional VPC for the LDAP functions, to reach a directory on a private network. */
  ldapNetwork?: { vpcId: string; subnetIds: string[]; directoryCidrs?: string[] };
  /**
   * Mail (invitations, password resets) through SES: the sender address, the verified SES identity
   * it belongs to (the address itself, or its domain or a parent domain), and an optional
   * configuration set. Required: the functions that send mail do not start sending without it.
   */
  mail: { from: string; identity: string; configurationSet?: string };
}

export type ContextReader = (key: string) => unknown;

const STAGE = /^[a-z][a-z0-9-]{0,19}$/;
/** A plain address (no display name): it is also the `ses:FromAddress` the grant is limited to. */
const MAIL_ADDRESS = /^[^\s@<>",;]+@((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})$/i;
const CONFIGURATION_SET = /^[A-Za-z0-9_-]{1,64}$/;

function optionalString(get: ContextReader, key: string): string | undefined {
  const value = get(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`Context "${key}" must be a string`);
  return value.trim();
}

/** Subnet ids from cdk.json (an array) or from the command line (`-c ldapSubnetIds=subnet-a,subnet-b`). */
function stringList(get: ContextReader, key: string): string[] {
  const value = get(key);
  if (value === undefined || value === null || value === '') return [];
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items) || !items.every((i) => typeof i === 'string')) {
    throw new Error(`Context "${key}" must be a list of strings or a comma-separated string`);
  }
  return items.map((i) => i.trim()).filter((i) => i.length > 0);
}

/**
 * SES authorizes a send against the identity that covers the sender: the address itself when it
 * is verified as an address, else its domain, or a parent domain (a verified domain covers its
 * subdomains). The grant names exactly that identity.
 */
function readMail(get: ContextReader): StackConfig['mail'] {
  const from = optionalString(get, 'mailFrom');
  if (from === undefined) {
    throw new Error(
      'Context "mailFrom" is required: the sender of invitation and password-reset mail, an address on a verified SES identity (docs/operations.md, "Mail")',
    );
  }
  const match = MAIL_ADDRESS.exec(from);
  if (!match?.[1]) throw new Error(`Context "mailFrom" must be a plain e-mail address: got "${from}"`);
  const domain = match[1].toLowerCase();

  const identity = (optionalString(get, 'sesIdentity') ?? domain).toLowerCase();
  const covers = identity === from.toLowerCase() || identity === domain || domain.endsWith(`.${identity}`);
  if (!covers || !identity.includes('.') || !/^[a-z0-9@._-]+$/.test(identity)) {
    throw new Error(
      `Context "sesIdentity" must be the "mailFrom" address, its domain or a parent domain: got "${identity}"`,
    );
  }

  const configurationSet = optionalString(get, 'mailConfigurationSet');
  if (configurationSet !== undefined && !CONFIGURATION_SET.test(configurationSet)) {
    throw new Error(
      `Context "mailConfigurationSet" is not an SES configuration set name: "${configurationSet}"`,
    );
  }
  return { from, identity, ...(configurationSet !== undefined ? { configurationSet } : {}) };
}

export function readStackConfig(get: ContextReader): StackConfig {
  const stage = optionalString(get, 'stage') ?? 'prod';
  if (!STAGE.test(stage)) {
    throw new Error(`Context "stage" must match ${STAGE} (lower-case, starts with a letter): got "${stage}"`);
  }
  const config: StackConfig = { stage, mail: readMail(get) };

  const domainName = optionalString(get, 'domainName');
  const certificateArn = optionalString(get, 'certificateArn');
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error('Context "domainName" and "certificateArn" go together: set both or neither');
  }
  if (domainName !== undefined && certificateArn !== undefined) {
    if (!certificateArn.startsWith('arn:')) throw new Error('Context "certificateArn" must be an ACM ARN');
    config.domain = { name: domainName.toLowerCase(), certificateArn };
  }

  const alarmEmail = optionalString(get, 'alarmEmail');
  if (alarmEmail !== undefined) {
    if (!/^[^@\s]+@[^@\s]+$/.test(alarmEmail))
      throw new Error('Context "alarmEmail" is not an e-mail address');
    config.alarmEmail = alarmEmail;
  }

  const vpcId = optionalString(get, 'ldapVpcId');
  const subnetIds = stringList(get, 'ldapSubnetIds');
  if ((vpcId === undefined) !== (subnetIds.length === 0)) {
    throw new Error('Context "ldapVpcId" and "ldapSubnetIds" go together: set both or neither');
  }
  // The private ranges where tenants' directories live (reached through the VPC); the LDAP
  // functions may connect there and nowhere else private.
  const directoryCidrs = stringList(get, 'ldapDirectoryCidrs');
  for (const cidr of directoryCidrs) {
    if (!/^[0-9a-f:.]+\/\d{1,3}$/i.test(cidr))
      throw new Error(`Context "ldapDirectoryCidrs": "${cidr}" is not a CIDR`);
  }
  if (directoryCidrs.length > 0 && vpcId === undefined) {
    throw new Error('Context "ldapDirectoryCidrs" needs "ldapVpcId" and "ldapSubnetIds"');
  }
  if (vpcId !== undefined) {
    config.ldapNetwork = { vpcId, subnetIds, ...(directoryCidrs.length > 0 ? { directoryCidrs } : {}) };
  }

  return config;
}
