import type { Application } from '../applications/model.ts';
import type { Runtime } from '../runtime.ts';
import { getApplication } from '../store/applications.ts';
import { currentContext } from './context.ts';

/** Applications as the OpenID Provider sees them: read once per request, and what they may use. */

export const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The application behind the request's client, read once per request. Not kept across requests:
 * an operator's change (a new secret, fewer tenants, deletion) holds on the very next request in
 * every container, which two reads per login are worth (bench/README.md).
 */
export async function applicationOf(rt: Runtime, clientId: string): Promise<Application | undefined> {
  const context = currentContext();
  const cached = context?.applications.get(clientId);
  if (cached !== undefined) return cached ?? undefined;
  const app = UUID.test(clientId) ? await getApplication(rt.db, clientId) : undefined;
  context?.applications.set(clientId, app ?? null);
  return app;
}

export const tenantAllowed = (app: Application, tenantId: string) =>
  app.tenants === 'all' || app.tenants.includes(tenantId);

/** A resource indicator (RFC 8707) an application may name: an absolute https URL (http on loopback). */
export function resourceAllowed(rt: Runtime, resource: string): boolean {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return false;
  }
  if (url.hash || url.username || url.password || resource.length > 2048) return false;
  if (url.protocol === 'https:') return true;
  return (
    url.protocol === 'http:' &&
    (rt.config.ALLOW_PRIVATE_URLS || ['localhost', '127.0.0.1'].includes(url.hostname))
  );
}
