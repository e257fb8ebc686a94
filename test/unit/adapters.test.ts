import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher, LocalEventBus } from '../../shared/ports/events.ts';
import { LocalSecretStore, SecretsManagerStore } from '../../shared/ports/secrets.ts';

const sm = mockClient(SecretsManagerClient);
const eb = mockClient(EventBridgeClient);
beforeEach(() => {
  sm.reset();
  eb.reset();
});

describe('SecretsManagerStore', () => {
  it('creates a new secret under the prefix for every put and returns its ARN', async () => {
    sm.on(CreateSecretCommand).callsFake((input: { Name: string }) => ({
      ARN: `arn:aws:secretsmanager:x:1:secret:${input.Name}`,
    }));
    const store = new SecretsManagerStore(new SecretsManagerClient({}), 'sso/prod');
    const a = await store.put('tenants/t/connections/c/clientSecret', 's3cret');
    const b = await store.put('tenants/t/connections/c/clientSecret', 's3cret');
    expect(a).not.toBe(b);
    const calls = sm.commandCalls(CreateSecretCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.args[0].input.Name).toMatch(
      /^sso\/prod\/tenants\/t\/connections\/c\/clientSecret\/[0-9a-f]{12}$/,
    );
    expect(calls[0]?.args[0].input.SecretString).toBe('s3cret');
  });

  it('reads through a cache and deletes with a recovery window, ignoring a missing secret', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'value' });
    const store = new SecretsManagerStore(new SecretsManagerClient({}), 'sso');
    expect(await store.get('arn:1')).toBe('value');
    expect(await store.get('arn:1')).toBe('value');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);

    sm.on(DeleteSecretCommand).rejects(new ResourceNotFoundException({ message: 'gone', $metadata: {} }));
    await expect(store.delete('arn:1')).resolves.toBeUndefined();
    expect(sm.commandCalls(DeleteSecretCommand)[0]?.args[0].input).toEqual({
      SecretId: 'arn:1',
      RecoveryWindowInDays: 7,
    });
  });

  it('fails on a secret without a string value', async () => {
    sm.on(GetSecretValueCommand).resolves({});
    const store = new SecretsManagerStore(new SecretsManagerClient({}), 'sso');
    await expect(store.get('arn:2')).rejects.toThrow(/no string value/);
  });
});

describe('EventBridgePublisher', () => {
  it('sends events in batches of ten with source, detail-type and bus', async () => {
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), 'sso-bus');
    const events = Array.from({ length: 12 }, (_, i) => ({
      type: 'login.succeeded',
      tenantId: 'acme',
      detail: { n: i },
    }));
    await publisher.publish(...events);
    const calls = eb.commandCalls(PutEventsCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 2]);
    const entry = calls[0]?.args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ EventBusName: 'sso-bus', Source: 'sso', DetailType: 'login.succeeded' });
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({
      tenantId: 'acme',
      n: 0,
      id: expect.any(String),
    });
  });

  it('throws when EventBridge refuses part of a batch', async () => {
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), 'sso-bus');
    // An entry that failed inside EventBridge is its outage: the port's 503, the detail in the cause.
    const error = await publisher.publish({ type: 'x', detail: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, code: 'events_unavailable' });
    expect(String((error as Error).cause)).toMatch(/InternalFailure/);
  });
});

describe('local adapters', () => {
  it('the local secret store never overwrites and forgets deleted secrets', async () => {
    const store = new LocalSecretStore();
    const ref = await store.put('p', 'v1');
    const ref2 = await store.put('p', 'v2');
    expect(ref).not.toBe(ref2);
    expect(await store.get(ref)).toBe('v1');
    await store.delete(ref);
    await expect(store.get(ref)).rejects.toThrow();
  });

  it('the local bus delivers to subscribers in order with ids and times', async () => {
    const bus = new LocalEventBus();
    const seen: string[] = [];
    const stop = bus.subscribe((e) => {
      seen.push(`${e.type}:${e.id.length > 0}`);
    });
    await bus.publish({ type: 'a', detail: {} }, { type: 'b', detail: {} });
    stop();
    await bus.publish({ type: 'c', detail: {} });
    expect(seen).toEqual(['a:true', 'b:true']);
    expect(bus.recent.map((e) => e.type)).toEqual(['a', 'b', 'c']);
  });
});
