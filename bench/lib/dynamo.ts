import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Counts what a login asks of DynamoDB: one middleware on the document client (the one every
 * repository uses through `runtime().db.doc`) that asks for ReturnConsumedCapacity TOTAL on every
 * command and adds up the answer. DynamoDB Local computes capacity as the service does: 0.5 RCU
 * per 4 KB eventually consistent read, 1 per strongly consistent one, 1 WCU per 1 KB written, and
 * twice that inside a transaction.
 */
export interface DbUsage {
  requests: number;
  rcu: number;
  wcu: number;
  /** What DynamoDB Local itself reported for writes, before the transaction correction below. */
  reportedWcu: number;
  /** The commands in order, e.g. `Query(gsi1)`, `Put`, `TransactWrite[4]`. */
  commands: string[];
}

/**
 * One person's logins through one connection in one container: the first (provisioning), the next
 * (the login-path caches for connection, tenant and role mappings are warm, this person's identity
 * link is not yet cached here) and one more right after (the link is cached too).
 */
export interface LoginUsage {
  firstLogin: DbUsage;
  returning: DbUsage;
  returningWarm: DbUsage;
}

interface Capacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

function describe(name: string, input: Record<string, unknown>): string {
  if (name === 'Query' && typeof input.IndexName === 'string') return `Query(${input.IndexName})`;
  if (name === 'TransactWriteItems' && Array.isArray(input.TransactItems))
    return `TransactWrite[${input.TransactItems.length}]`;
  if (name === 'BatchGetItem' && input.RequestItems && typeof input.RequestItems === 'object') {
    const n = Object.values(input.RequestItems as Record<string, { Keys?: unknown[] }>).reduce(
      (sum, r) => sum + (r.Keys?.length ?? 0),
      0,
    );
    return `BatchGet[${n}]`;
  }
  const consistent = input.ConsistentRead === true ? '(consistent)' : '';
  return `${name.replace(/Item$/, '')}${consistent}`;
}

/**
 * DynamoDB bills a transactional write 2 WRU per item and KB; DynamoDB Local reports a whole
 * TransactWriteItems as if it were one item (2 units for four small Puts). For transactions the
 * service's rule is applied to the items' sizes (estimated from their JSON, which slightly
 * overstates DynamoDB's size) and the larger of the two numbers kept.
 */
function transactionWcu(name: string, input: Record<string, unknown>): number | undefined {
  if (name !== 'TransactWriteItems' || !Array.isArray(input.TransactItems)) return undefined;
  let wcu = 0;
  for (const item of input.TransactItems as Record<string, { Item?: unknown; Key?: unknown }>[]) {
    const op = item.Put ?? item.Update ?? item.Delete ?? item.ConditionCheck;
    const bytes = Buffer.byteLength(JSON.stringify(op?.Item ?? op?.Key ?? {}));
    wcu += 2 * Math.max(1, Math.ceil(bytes / 1024));
  }
  return wcu;
}

export class DynamoCounter {
  #usage: DbUsage = { requests: 0, rcu: 0, wcu: 0, reportedWcu: 0, commands: [] };
  /** Set while a measured section runs; commands outside it are not counted. */
  enabled = false;
  /**
   * Wall-clock ms spent waiting on DynamoDB since start, counted or not (to split a login's time).
   * Calls in flight together count once: the union of their intervals, not the sum.
   */
  waitedMs = 0;
  #inFlight = 0;
  #since = 0;

  #begin(): void {
    if (this.#inFlight++ === 0) this.#since = performance.now();
  }

  #end(): void {
    if (--this.#inFlight === 0) this.waitedMs += performance.now() - this.#since;
  }

  install(doc: DynamoDBDocumentClient): void {
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        const name = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        const input = args.input as Record<string, unknown>;
        input.ReturnConsumedCapacity = 'TOTAL';
        const counting = this.enabled;
        const label = describe(name, input);
        this.#begin();
        try {
          const result = await next(args);
          this.#end();
          if (counting) {
            const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
            this.#add(name, label, consumed, transactionWcu(name, input));
          }
          return result;
        } catch (error) {
          this.#end();
          // A failed condition still consumed capacity; the error carries none, so count the request.
          if (counting) this.#add(name, `${label}!`, undefined, transactionWcu(name, input));
          throw error;
        }
      },
      { step: 'initialize', name: 'benchDynamoCounter', override: true },
    );
  }

  #add(name: string, label: string, consumed: unknown, txWcu: number | undefined): void {
    const u = this.#usage;
    u.requests += 1;
    u.commands.push(label);
    const list = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as Capacity[];
    let write = 0;
    for (const c of list) {
      u.rcu += c.ReadCapacityUnits ?? (READS.has(name) ? (c.CapacityUnits ?? 0) : 0);
      write += c.WriteCapacityUnits ?? (READS.has(name) ? 0 : (c.CapacityUnits ?? 0));
    }
    u.reportedWcu += write;
    u.wcu += txWcu === undefined ? write : Math.max(write, txWcu);
  }

  /** Runs `fn` with counting on and returns what it used. */
  async measure<T>(fn: () => Promise<T>): Promise<{ result: T; usage: DbUsage }> {
    this.#usage = { requests: 0, rcu: 0, wcu: 0, reportedWcu: 0, commands: [] };
    this.enabled = true;
    try {
      const result = await fn();
      return { result, usage: this.#usage };
    } finally {
      this.enabled = false;
    }
  }
}
