import type { Connection } from '../connections/model.ts';
import type { ConnectionType } from '../connections/schema.ts';
import type { Runtime } from '../runtime.ts';
import type { SessionRecord } from '../store/sessions.ts';

/**
 * How a connector re-reads a user's authorization without the user (POST /session/refresh): LDAP
 * searches the directory with its service account. 'gone' ends the session.
 */
export type AuthorizationRefresher = (
  rt: Runtime,
  connection: Connection,
  session: SessionRecord,
) => Promise<{ externalGroups: string[] } | 'gone'>;

const refreshers = new Map<ConnectionType, AuthorizationRefresher>();

export function registerRefresher(type: ConnectionType, refresher: AuthorizationRefresher): void {
  refreshers.set(type, refresher);
}

export const refresherFor = (type: ConnectionType) => refreshers.get(type);
