import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ALARMS,
  kebab,
  meaning,
  RUNBOOK_BEGIN,
  RUNBOOK_END,
  runbookName,
  runbookSection,
  runbookTable,
  withRunbookTable,
} from '../../infra/alarms.ts';

const OPERATIONS = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

/** The `### \`name\`` headings of the runbook ("When an alarm fires", to the next `## ` or the end). */
function runbookHeadings(document: string): string[] {
  const start = document.indexOf('## When an alarm fires');
  const next = document.indexOf('\n## ', start + 1);
  const section = document.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^### `([^`]+)`$/gm)].map((m) => m[1] ?? '');
}

describe('the alarm table', () => {
  it('has unique ids and alarm names', () => {
    const names = ALARMS.map(runbookName);
    expect(new Set(ALARMS.map((row) => row.id)).size).toBe(ALARMS.length);
    expect(new Set(names).size).toBe(names.length);
  });

  it('says what each alarm means with its threshold filled in', () => {
    for (const row of ALARMS) {
      expect(meaning(row, 'saml-acs')).not.toMatch(/\{threshold\}|\{function\}/);
      expect(meaning(row).length).toBeGreaterThan(0);
      expect(row.todo.length).toBeGreaterThan(0);
    }
    const certificates = ALARMS.find((row) => row.id === 'SamlCertificateExpiring');
    expect(certificates && meaning(certificates)).toBe(
      `A SAML signing certificate expires within ${certificates?.threshold} days.`,
    );
  });

  it('names alarms in kebab case, per function after the function', () => {
    expect(kebab('ApiServerErrorRate')).toBe('api-server-error-rate');
    expect(kebab('SamlMetadataRefreshErrors')).toBe('saml-metadata-refresh-errors');
    expect(ALARMS.filter((row) => row.per === 'function').map(runbookName)).toEqual(['{function}-errors']);
  });
});

describe('the runbook in docs/operations.md', () => {
  it('has the alarm table the code has (run `npx tsx scripts/runbook.ts` after changing ALARMS)', () => {
    expect(runbookSection(OPERATIONS)).toBe(runbookTable());
  });

  it('has a section with the steps for each alarm, and none for an alarm that does not exist', () => {
    expect(runbookHeadings(OPERATIONS)).toEqual(ALARMS.map(runbookName));
  });
});

describe('writing the runbook table', () => {
  const document = `# Doc\n\nbefore\n\n${RUNBOOK_BEGIN}\nstale\n${RUNBOOK_END}\n\nafter\n`;

  it('replaces only what is between the markers, and is stable', () => {
    const written = withRunbookTable(document);
    expect(written.startsWith(`# Doc\n\nbefore\n\n${RUNBOOK_BEGIN}\n\n| alarm`)).toBe(true);
    expect(written.endsWith(`|\n\n${RUNBOOK_END}\n\nafter\n`)).toBe(true);
    expect(runbookSection(written)).toBe(runbookTable());
    expect(withRunbookTable(written)).toBe(written);
  });

  it('refuses a document without the markers', () => {
    expect(() => withRunbookTable('# Doc\n')).toThrow(/Markers not found/);
    expect(runbookSection('# Doc\n')).toBeUndefined();
  });

  it('escapes a pipe inside a cell', () => {
    const [row] = ALARMS;
    if (!row) throw new Error('no alarms');
    expect(runbookTable([{ ...row, todo: 'a | b' }])).toContain('a \\| b');
  });
});
