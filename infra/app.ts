import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readStackConfig } from './context.ts';
import { SsoStack } from './stack.ts';

/**
 * The CDK app (cdk.json: `npx tsx infra/app.ts`). Context: stage, mailFrom (required), sesIdentity,
 * mailConfigurationSet, domainName + certificateArn, alarmEmail, ldapVpcId + ldapSubnetIds; see
 * docs/operations.md.
 */
const app = new App();
const config = readStackConfig((key) => app.node.tryGetContext(key));

new SsoStack(app, `sso-${config.stage}`, {
  config,
  description: `Serverless multi-tenant SSO (${config.stage})`,
});

// The same checks as test/infra: an unacknowledged finding stops synth, and so a deploy.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
