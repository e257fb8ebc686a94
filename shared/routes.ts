/**
 * The route table: the one list of routes. The CDK stack creates an API Gateway route for each
 * entry and points it at the named function; the local server serves the same entries with the
 * same handlers. A new route is a line here plus an operation in functions/{function}.ts.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  method: HttpMethod;
  path: string;
  function: FunctionName;
}

/** One Lambda per route group; `functions/{name}.ts` exports `handler`. Sizes feed the CDK stack. */
export const FUNCTIONS = {
  health: { memoryMb: 256, timeoutSeconds: 5, description: 'Liveness' },
  admin: { memoryMb: 512, timeoutSeconds: 15, description: 'Tenant and connection administration' },
} as const satisfies Record<string, { memoryMb: number; timeoutSeconds: number; description: string }>;

export type FunctionName = keyof typeof FUNCTIONS;

const T = '/admin/tenants/{tenantId}';
const C = `${T}/connections/{connectionId}`;

export const ROUTES = [
  { method: 'GET', path: '/health', function: 'health' },

  { method: 'POST', path: '/admin/tenants', function: 'admin' },
  { method: 'GET', path: T, function: 'admin' },
  { method: 'PATCH', path: T, function: 'admin' },
  { method: 'POST', path: `${T}/connections`, function: 'admin' },
  { method: 'GET', path: `${T}/connections`, function: 'admin' },
  { method: 'GET', path: C, function: 'admin' },
  { method: 'PATCH', path: C, function: 'admin' },
  { method: 'DELETE', path: C, function: 'admin' },
] as const satisfies readonly Route[];

/** The API Gateway route key of a route, e.g. `GET /admin/tenants/{tenantId}`. */
export const routeKey = (route: Pick<Route, 'method' | 'path'>): string => `${route.method} ${route.path}`;
