/**
 * Writes the alarm table of docs/operations.md ("When an alarm fires") from ALARMS in
 * infra/alarms.ts, between its markers: `npx tsx scripts/runbook.ts`. test/infra/alarms.test.ts
 * fails when the table in the document is not the one this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withRunbookTable } from '../infra/alarms.ts';

const path = new URL('../docs/operations.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withRunbookTable(before);
if (after !== before) writeFileSync(path, after);
console.log(
  after === before
    ? 'docs/operations.md: alarm table already current'
    : 'docs/operations.md: alarm table written',
);
