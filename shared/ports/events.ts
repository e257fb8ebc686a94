import { randomUUID } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

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

/** EventBridge: PutEvents in batches of 10; a partially failed batch is an error. */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(...events: DomainEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 10) {
      const batch = events.slice(i, i + 10).map((e) => stamp(e, new Date()));
      const out = await this.client.send(
        new PutEventsCommand({
          Entries: batch.map((e) => ({
            EventBusName: this.busName,
            Source: EVENT_SOURCE,
            DetailType: e.type,
            Time: new Date(e.time),
            Detail: JSON.stringify({ id: e.id, tenantId: e.tenantId, ...e.detail }),
          })),
        }),
      );
      if (out.FailedEntryCount) {
        const codes = (out.Entries ?? []).map((e) => e.ErrorCode).filter(Boolean);
        throw new Error(`EventBridge refused ${out.FailedEntryCount} event(s): ${codes.join(', ')}`);
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
