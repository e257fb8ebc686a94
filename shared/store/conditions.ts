import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';

/** Whether a write failed on its condition (alone, or as one item of a transaction). */
export function isConditionFailure(error: unknown): boolean {
  if (error instanceof ConditionalCheckFailedException) return true;
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');
  }
  return (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException';
}

/** The item a failed conditional write saw, when ReturnValuesOnConditionCheckFailure asked for it. */
export function itemOnFailure(error: unknown): Record<string, unknown> | undefined {
  if (error instanceof ConditionalCheckFailedException) return error.Item;
  return undefined;
}
