import { readFileSync } from 'node:fs';
import type { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** The context of cdk.json (feature flags, default stage), so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Skips esbuild for every stack: for tests that only look at wiring, not at the bundles. */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

/**
 * cdk-nag AwsSolutions findings that are not acknowledged, as `rule at path` lines. cdk-nag v3 is
 * a policy-validation plugin, not an aspect: findings are not annotations any more, so the pack is
 * run over the construct tree directly.
 */
export function nagFindings(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`),
  );
}

export interface Grant {
  action: string;
  resource: string;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Every (action, resource) pair the role's inline policies allow, with resources turned into
 * readable labels through `labels` (resolved CloudFormation value → label); unknown resources
 * keep their JSON. Pairs, not statements, because policy minimization merges statements.
 */
export function grantsOf(template: Template, roleLogicalId: string, labels: Map<string, string>): Grant[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const grants: Grant[] = [];
  for (const policy of Object.values(policies)) {
    const props = policy.Properties as {
      Roles: unknown[];
      PolicyDocument: { Statement: { Effect: string; Action: string | string[]; Resource: unknown }[] };
    };
    if (!props.Roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleLogicalId }))) continue;
    for (const statement of props.PolicyDocument.Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action)) {
        for (const resource of asArray(statement.Resource)) {
          const json = JSON.stringify(resource);
          grants.push({ action, resource: resource === '*' ? '*' : (labels.get(json) ?? json) });
        }
      }
    }
  }
  return grants;
}

/** Labels for grantsOf: each value resolved in the stack, as it appears in the template. */
export function resourceLabels(stack: Stack, values: Record<string, string>): Map<string, string> {
  return new Map(
    Object.entries(values).map(([label, value]) => [JSON.stringify(stack.resolve(value)), label]),
  );
}

export const sortGrants = (grants: Grant[]): string[] =>
  [...new Set(grants.map((g) => `${g.action} on ${g.resource}`))].sort();
