import type { DomainEvent, EventPublisher } from '#shared/ports/events.ts';
import { configureRuntime, runtime } from '#shared/runtime.ts';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { DynamoCounter } from './dynamo.ts';

/**
 * The stack the benchmarks run against: DynamoDB Local and the local stack (its HTTP server is
 * used for set-up through the admin API only; logins are timed by calling the Lambda handlers in
 * this process).
 */
export interface BenchStack {
  dynamo: DynamoDbLocal;
  stack: LocalStack;
  counter: DynamoCounter;
  events: CountingEvents;
  /** The admin API as the operator. */
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/**
 * In AWS the events go to EventBridge and an audit consumer Lambda writes them to the table; here
 * they are counted and dropped, so the audit writes (another function's cost) are not counted as
 * the login's DynamoDB requests.
 */
export class CountingEvents implements EventPublisher {
  putEventsCalls = 0;
  entries = 0;
  async publish(...events: DomainEvent[]): Promise<void> {
    this.putEventsCalls += Math.ceil(events.length / 10);
    this.entries += events.length;
  }
  reset(): void {
    this.putEventsCalls = 0;
    this.entries = 0;
  }
}

export async function startBenchStack(): Promise<BenchStack> {
  const dynamo = await startDynamoDbLocal();
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      dynamodbEndpoint: dynamo.endpoint,
      tableName: 'bench',
      port: 0,
      allowPrivateUrls: true,
    });
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
  const events = new CountingEvents();
  configureRuntime({ events });
  const counter = new DynamoCounter();
  counter.install(runtime().db.doc);

  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(stack.url + path, {
      method,
      headers: {
        authorization: `Bearer ${stack.operatorToken}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };

  return {
    dynamo,
    stack,
    counter,
    events,
    call,
    async close() {
      await stack.close();
      await dynamo.stop();
    },
  };
}

/** A tenant with one group mapped from an external role of the connection (externalId → group). */
export async function mapExternalGroup(
  bench: BenchStack,
  tenantId: string,
  connectionId: string,
  externalId: string,
  name: string,
): Promise<void> {
  const group = await bench.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, { name });
  const xrole = await bench.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/external-roles`, {
    connectionId,
    externalId,
    name,
  });
  await bench.call('PUT', `/admin/tenants/${tenantId}/groups/${group.id}/external-roles/${xrole.id}`, {
    accessLevel: 'member',
  });
}
