import { existsSync } from 'node:fs';
import type { FunctionSpec } from '#shared/routes.ts';
import { functionEntry } from './function.ts';

/**
 * Functions no route reaches: EventBridge invokes them. Their specs have the same shape as the
 * route table's FUNCTIONS and are bound the same way (least privilege from the spec).
 */
export const BACKGROUND_FUNCTIONS = {
  'audit-consumer': {
    description: 'Writes domain events from the bus as audit records',
    memoryMb: 256,
    timeoutSeconds: 30,
    table: 'readWrite',
    secrets: {},
    events: false,
    mail: false,
  },
  'saml-metadata-refresh': {
    description: 'Refreshes SAML IdP metadata and reports signing-certificate expiry',
    memoryMb: 512,
    timeoutSeconds: 300,
    table: 'readWrite',
    secrets: {},
    events: false,
    mail: false,
  },
} as const satisfies Record<string, FunctionSpec>;

export type BackgroundFunctionName = keyof typeof BACKGROUND_FUNCTIONS;

/**
 * The one place that decides which background functions are deployed: those whose handler file
 * exists. They are being written alongside the stack, and a stack that bundled a missing file
 * would not synthesize at all; until a file lands, its rule exists without a target.
 */
export function writtenBackgroundFunctions(
  exists: (path: string) => boolean = existsSync,
): BackgroundFunctionName[] {
  return (Object.keys(BACKGROUND_FUNCTIONS) as BackgroundFunctionName[]).filter((name) =>
    exists(functionEntry(name)),
  );
}
