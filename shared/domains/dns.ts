import { Resolver } from 'node:dns/promises';
import { AppError } from '../errors.ts';

/** Per-query timeout and tries for c-ares; the deadline bounds the whole lookup whatever they do. */
const QUERY_TIMEOUT_MS = 2_000;
const QUERY_TRIES = 2;
const DEADLINE_MS = 5_000;

/** Answers that mean "no such record": the name or the TXT type does not exist (RFC 2308). */
const ABSENT = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * The TXT records at `name`, each as its character-strings; an empty list when there are none.
 * A resolver that cannot answer (timeout, refused, SERVFAIL) is not an answer: 503
 * `dns_unavailable`, so a flaky resolver never reads as "record missing".
 */
export async function lookupTxt(name: string, servers: readonly string[]): Promise<string[][]> {
  const resolver = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
  if (servers.length > 0) resolver.setServers([...servers]);
  const deadline = setTimeout(() => resolver.cancel(), DEADLINE_MS);
  try {
    return await resolver.resolveTxt(name);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && ABSENT.has(code)) return [];
    throw new AppError(
      503,
      'dns_unavailable',
      'The DNS lookup for the verification record failed; try again in a minute.',
      { cause: error, expose: true, headers: { 'retry-after': '30' } },
    );
  } finally {
    clearTimeout(deadline);
  }
}
