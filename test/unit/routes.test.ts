import { describe, expect, it } from 'vitest';
import { FUNCTIONS, ROUTES, routeKey } from '../../shared/routes.ts';

describe('the route table', () => {
  it('has no duplicate routes', () => {
    const keys = ROUTES.map(routeKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each(Object.keys(FUNCTIONS))('matches what functions/%s.ts handles, route for route', async (name) => {
    const module = (await import(`../../functions/${name}.ts`)) as { handler: { routeKeys: string[] } };
    const expected = ROUTES.filter((r) => r.function === name).map(routeKey);
    expect([...module.handler.routeKeys].sort()).toEqual([...expected].sort());
  });

  it('uses path parameters API Gateway accepts', () => {
    for (const route of ROUTES) {
      expect(route.path).toMatch(/^(\/([a-z0-9.-]+|\{[A-Za-z]+\}))+$|^\/$/);
    }
  });
});
