import { randomUUID } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { callAws, serviceUnavailable } from './aws.ts';

/** Event source on the bus; rules match on it. */
export const EVENT_SOURCE = 'sso';

/**
 * A domain event. `type` becomes the EventBridge detail-type. Details never carry secrets,
 * passwords, tokens or raw protocol messages.
 */
export interface DomainEvent {
  type: string;
  tenantId?: string;
  detail: Record<string, unknown>;
}

export interface PublishedEvent extends DomainEvent {
  id: string;
  time: string;
}

export interface EventPublisher {
  publish(...events: DomainEvent[]): Promise<void>;
}

const stamp = (event: DomainEvent, time: Date): PublishedEvent => ({
  ...event,
  id: randomUUID(),
  time: time.toISOString(),
});

/** PutEvents entry error codes that mean EventBridge could not take the entry right now. */
const TRANSIENT_ENTRY_ERRORS = new Set(['ThrottlingException', 'InternalFailure', 'InternalException']);

const EVENTS_UNAVAILABLE = 'The service cannot record this action right now; try again shortly.';

/**
 * EventBridge: PutEvents in batches of 10; a partially failed batch is an error. A publish fails
 * the request, as the audit trail is built from these events; one that does not answer in time
 * (AWS_CALL_LIMITS), cannot connect, is throttled or fails (5xx) is a 503 `events_unavailable`
 * with Retry-After instead of a hang. Callers publish after their write, so the write stays (a
 * retry may then answer 409).
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(...events: DomainEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 10) {
      const batch = events.slice(i, i + 10).map((e) => stamp(e, new Date()));
      const put = new PutEventsCommand({
        Entries: batch.map((e) => ({
          EventBusName: this.busName,
          Source: EVENT_SOURCE,
          DetailType: e.type,
          Time: new Date(e.time),
          Detail: JSON.stringify({ id: e.id, tenantId: e.tenantId, ...e.detail }),
        })),
      });
      const out = await callAws('events_unavailable', EVENTS_UNAVAILABLE, 'EventBridge', () =>
        this.client.send(put),
      );
      if (out.FailedEntryCount) {
        const codes = (out.Entries ?? []).map((e) => e.ErrorCode).filter(Boolean);
        const refused = new Error(
          `EventBridge refused ${out.FailedEntryCount} event(s): ${codes.join(', ')}`,
        );
        // Entries throttled or failed inside EventBridge are its outage; anything else is our bug.
        if (codes.length > 0 && codes.every((c) => c !== undefined && TRANSIENT_ENTRY_ERRORS.has(c))) {
          throw serviceUnavailable('events_unavailable', EVENTS_UNAVAILABLE, refused);
        }
        throw refused;
      }
    }
  }
}

export type EventListener = (event: PublishedEvent) => void | Promise<void>;

/** The local in-process bus: delivers to subscribers in order and keeps the last events. */
export class LocalEventBus implements EventPublisher {
  readonly #listeners = new Set<EventListener>();
  readonly recent: PublishedEvent[] = [];

  constructor(private readonly keep = 1000) {}

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async publish(...events: DomainEvent[]): Promise<void> {
    for (const event of events) {
      const published = stamp(event, new Date());
      this.recent.push(published);
      if (this.recent.length > this.keep) this.recent.shift();
      for (const listener of this.#listeners) await listener(published);
    }
  }
}
