import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../shared/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Every route of the route table, probed the way an outsider would: ids that name nothing or are
 * far too long, encodings, odd bodies and queries, with and without credentials. Refusals are
 * fine; a 5xx is never.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
  await stack.call('POST', '/admin/tenants', { body: { id: 'victim-co', name: 'Victim' } });
});
afterAll(async () => {
  await stack.close();
});

const IDS = [
  'a'.repeat(3000),
  '%00',
  '..%2f..',
  '%C3%BC',
  "'%22%3Cscript%3E",
  '00000000-0000-0000-0000-000000000000',
  'victim-co',
  '*',
];
const BODIES: (string | undefined)[] = [
  undefined,
  '[]',
  'null',
  '"x"',
  '{"__proto__":{"admin":true}}',
  `{"a":${'['.repeat(2000)}${']'.repeat(2000)}}`,
  JSON.stringify({ id: 'x'.repeat(5000), email: `${'a'.repeat(400)}@x.test`, password: '\u0000' }),
];

const fill = (path: string, id: string) => path.replace(/\{[A-Za-z]+\}/g, id);

describe('hostile input on every route', () => {
  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s never answers 5xx',
    async (_, route) => {
      for (const id of IDS) {
        for (const token of [undefined, null]) {
          const body =
            route.method === 'GET' || route.method === 'DELETE'
              ? undefined
              : BODIES[IDS.indexOf(id) % BODIES.length];
          const res = await stack.call(
            route.method,
            `${fill(route.path, id)}?q=${encodeURIComponent(id)}&limit=${id}`,
            {
              ...(token === null ? { token } : {}),
              ...(body !== undefined ? { body } : {}),
            },
          );
          expect(
            res.status,
            `${route.method} ${fill(route.path, id).slice(0, 80)}: ${res.text.slice(0, 200)}`,
          ).toBeLessThan(500);
          if (res.status >= 400 && res.headers.get('content-type')?.includes('json')) {
            // The envelope's code; the OpenID Provider's endpoints answer RFC 6749's {"error": "…"}.
            const error = (res.body as { error?: { code?: string } | string }).error;
            expect(typeof error === 'string' ? error : error?.code).toMatch(/^[a-z_]+$/);
          }
        }
      }
    },
  );

  it('random bytes as JSON and form bodies never answer 5xx', async () => {
    const posts = ROUTES.filter((r) => r.method === 'POST' || r.method === 'PATCH' || r.method === 'PUT');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...posts),
        fc.string({ maxLength: 300 }),
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
        async (route, text, type) => {
          const res = await stack.call(route.method, fill(route.path, 'victim-co'), {
            body: text,
            headers: { 'content-type': type },
          });
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  });
});
