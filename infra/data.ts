import { RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { TABLE } from '#shared/store/table.ts';

export interface DataProps {
  stage: string;
}

/**
 * Where the state lives: the single table and the secrets created with the stack. Both survive a
 * stack deletion (RETAIN): losing the table loses every tenant.
 */
export class Data extends Construct {
  readonly table: Table;
  /** The GSIs of the table, for grants on `${tableArn}/index/{name}`. */
  readonly indexNames: readonly string[] = [TABLE.gsi1.indexName];
  /** Bearer token of the operator (creates tenants). */
  readonly operatorToken: Secret;
  /** Session signing keys (ES256 JWKs, newest last), filled by the code on first use. */
  readonly sessionKeys: Secret;
  /** The OpenID Provider's keys (ES256 JWKs, newest last, and its cookie secret), filled by the code. */
  readonly oauthKeys: Secret;
  /** Name prefix of the secrets the code creates at run time (SECRETS_PREFIX). */
  readonly secretsPrefix: string;
  /** The path below the prefix where connection secrets go (`tenants/{t}/connections/{c}/...`). */
  readonly connectionSecretsPath = 'tenants';
  /** The path below the prefix where applications' client secrets go (`applications/{clientId}/...`). */
  readonly applicationSecretsPath = 'applications';

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    this.secretsPrefix = `sso/${props.stage}`;

    // Keys, index and TTL come from the same constants as DynamoDB Local's table (shared/store/table.ts).
    // Encryption: the AWS-managed key (aws/dynamodb) rather than a customer-managed one. The table holds
    // no secrets (those are in Secrets Manager; items keep only their ARNs), nothing outside this account
    // reads it, and a customer-managed key would add a key policy to maintain and a way to make the
    // whole table unreadable by disabling one key, for no control we need. Use of the AWS-managed key
    // still shows in CloudTrail.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: AttributeType.STRING },
      timeToLiveAttribute: TABLE.ttlAttribute,
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE.gsi1.indexName,
      partitionKey: { name: TABLE.gsi1.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE.gsi1.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    // The fixed secrets are named `sso/{stage}/...` but outside `sso/{stage}/tenants/`, so the
    // connection-secret grants (on that path) never reach them.
    this.operatorToken = new Secret(this, 'OperatorToken', {
      secretName: `${this.secretsPrefix}/operator-token`,
      description: 'Bearer token of the SSO operator (POST /admin/tenants)',
      // Letters and digits only: it goes into an Authorization header and shell commands as is.
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.sessionKeys = new Secret(this, 'SessionKeys', {
      secretName: `${this.secretsPrefix}/session-keys`,
      description: 'Session signing keys (ES256 JWKs, newest last); the code adds the first key',
      // A placeholder, not a secret: no key material ever passes through the template.
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ keys: [] })),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.oauthKeys = new Secret(this, 'OAuthKeys', {
      secretName: `${this.secretsPrefix}/oauth-keys`,
      description:
        "The OpenID Provider's keys (ES256 JWKs for applications' tokens, newest last, and the cookie secret); the code adds the first key",
      // A placeholder, as for the session keys: the OP function (oauthKeys: 'rotate') creates the first key.
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ keys: [] })),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    Validations.of(this.operatorToken).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The operator token is rotated by the operator (docs/operations.md): the new value must reach people, which a rotation Lambda cannot do.',
    });
    Validations.of(this.sessionKeys).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Signing keys are rotated by the application (a new key is appended, the previous one keeps verifying), not by a Secrets Manager rotation Lambda.',
    });
    Validations.of(this.oauthKeys).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The OpenID Provider keys are rotated by the application, two keys at a time: a new key is appended and signs from then on, the one before stays published to verify the tokens it signed. A Secrets Manager rotation Lambda would replace the value and break those tokens.',
    });
  }
}
