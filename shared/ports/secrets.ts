import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { callAws } from './aws.ts';

/**
 * The secrets port. Items in DynamoDB keep only the reference `put` returns; the value lives here.
 * Every `put` creates a new secret (never overwrites one), so an item can switch from the old
 * reference to the new one in a single conditional write, and a failed write leaves nothing behind
 * once the caller deletes the new reference.
 */
export interface SecretStore {
  /** Stores `value` under a new name below `path`; returns the reference to keep. */
  put(path: string, value: string): Promise<string>;
  /** Reads a secret by reference; throws when it does not exist. */
  get(ref: string): Promise<string>;
  /** Deletes a secret; deleting one that is gone is not an error. */
  delete(ref: string): Promise<void>;
  /** Writes a new value to an existing, fixed secret (session signing keys, created at deploy). */
  update(ref: string, value: string): Promise<void>;
}

const uniqueSuffix = () => randomBytes(6).toString('hex');

const SECRETS_UNAVAILABLE = 'The service cannot reach its secret store right now; try again shortly.';

/**
 * Secrets Manager, with a short per-container cache for reads (secrets are immutable by design).
 * A call that does not answer in time (AWS_CALL_LIMITS), cannot connect, is throttled or fails
 * (5xx) is a 503 `secrets_unavailable` with Retry-After; Secrets Manager's other answers (a
 * missing secret, a refused parameter) stay as thrown.
 */
export class SecretsManagerStore implements SecretStore {
  readonly #cache = new Map<string, { value: string; until: number }>();

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly prefix: string,
    private readonly cacheSeconds = 300,
  ) {}

  /** One Secrets Manager call, bounded, with an outage translated to the port's 503. */
  #call<T>(send: () => Promise<T>): Promise<T> {
    return callAws('secrets_unavailable', SECRETS_UNAVAILABLE, 'Secrets Manager', send);
  }

  async put(path: string, value: string): Promise<string> {
    const name = `${this.prefix}/${path}/${uniqueSuffix()}`;
    const out = await this.#call(() =>
      this.client.send(new CreateSecretCommand({ Name: name, SecretString: value })),
    );
    const ref = out.ARN ?? name;
    this.#cache.set(ref, { value, until: Date.now() + this.cacheSeconds * 1000 });
    return ref;
  }

  async get(ref: string): Promise<string> {
    const hit = this.#cache.get(ref);
    if (hit && hit.until > Date.now()) return hit.value;
    const out = await this.#call(() => this.client.send(new GetSecretValueCommand({ SecretId: ref })));
    if (out.SecretString === undefined) throw new Error(`Secret ${ref} has no string value`);
    this.#cache.set(ref, { value: out.SecretString, until: Date.now() + this.cacheSeconds * 1000 });
    return out.SecretString;
  }

  async update(ref: string, value: string): Promise<void> {
    await this.#call(() =>
      this.client.send(new PutSecretValueCommand({ SecretId: ref, SecretString: value })),
    );
    this.#cache.set(ref, { value, until: Date.now() + this.cacheSeconds * 1000 });
  }

  async delete(ref: string): Promise<void> {
    this.#cache.delete(ref);
    try {
      // Seven days is the shortest recovery window: a mistaken delete can still be undone.
      await this.#call(() =>
        this.client.send(new DeleteSecretCommand({ SecretId: ref, RecoveryWindowInDays: 7 })),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }
}

/**
 * The local adapter: a JSON file (mode 0600) under the local data directory, or memory only.
 * Used by `npm start` and the tests; never deployed.
 */
export class LocalSecretStore implements SecretStore {
  readonly #values = new Map<string, string>();
  #loaded = false;

  constructor(private readonly file?: string) {}

  async #load(): Promise<void> {
    if (this.#loaded || !this.file) return;
    this.#loaded = true;
    try {
      const stored = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>;
      for (const [k, v] of Object.entries(stored)) this.#values.set(k, v);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async #save(): Promise<void> {
    if (!this.file) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${uniqueSuffix()}`;
    await writeFile(tmp, JSON.stringify(Object.fromEntries(this.#values)), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }

  /** Sets a secret under a fixed reference (the operator token and signing keys use this). */
  async set(ref: string, value: string): Promise<void> {
    await this.#load();
    this.#values.set(ref, value);
    await this.#save();
  }

  async update(ref: string, value: string): Promise<void> {
    await this.set(ref, value);
  }

  async put(path: string, value: string): Promise<string> {
    const ref = `local:${path}/${uniqueSuffix()}`;
    await this.set(ref, value);
    return ref;
  }

  async get(ref: string): Promise<string> {
    await this.#load();
    const value = this.#values.get(ref);
    if (value === undefined) throw new Error(`Secret ${ref} does not exist`);
    return value;
  }

  async delete(ref: string): Promise<void> {
    await this.#load();
    if (this.#values.delete(ref)) await this.#save();
  }

  /** For tests: every reference currently held. */
  refs(): string[] {
    return [...this.#values.keys()];
  }
}
