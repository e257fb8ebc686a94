import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { Client, type Filter, ResultCodeError, type SearchOptions } from 'ldapts';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import type { LdapConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import { logger } from '../logger.ts';
import { isInternalAddress, isOpenedPrivate } from '../net/addresses.ts';

/**
 * One connection to a tenant's directory, for one login, refresh or admin call, and then closed.
 * It wraps ldapts with the guarantees we need and ldapts does not give by default:
 * - TLS always (ldaps, or ldap + StartTLS which fails closed), verified against the tenant's CA,
 *   and checked before every bind; plain LDAP only with the connection's explicit `insecure` flag;
 * - connect and per-operation timeouts, plus one deadline for everything;
 * - no silent reconnect: after a dropped socket ldapts would open a fresh (plain) socket and send
 *   the next bind over it, so a second socket is refused outright;
 * - no unauthenticated bind (RFC 4513 section 5.1.2): a name with an empty password is never sent;
 * - the host's addresses checked like every tenant-supplied URL (no private or loopback address
 *   unless ALLOW_PRIVATE_URLS), and the connection made to the address that was checked.
 * The root DSE is read once per directory and trust settings and kept for a while (rootDseCache);
 * the connection is made and its TLS checked on every open all the same.
 */
export type Target = Pick<LdapConfig, 'url' | 'caPem' | 'insecure' | 'connectTimeoutMs' | 'timeoutMs'>;

export interface OpenOptions {
  allowPrivate: boolean;
  /** Private ranges opened for directories (PRIVATE_DIRECTORY_CIDRS). */
  privateCidrs?: readonly string[];
  /** Everything this connection does must finish within this many ms (well under Lambda's timeout). */
  deadlineMs?: number;
  /**
   * A check made while the connection is being opened (the login's attempt throttle). The directory
   * is handed over only once it has passed, so nothing can be bound before; if it fails, the
   * connection is given up and closed and its error is thrown, whatever the directory did.
   */
  gate?: Promise<unknown>;
  /** Read the root DSE even if it is cached (the admin's live test reports what the server says now). */
  freshRootDse?: boolean;
}

export type Transport = 'ldaps' | 'starttls' | 'plain';

/** Why the directory could not be used; all of them answer 503 directory_unavailable. */
export type UnavailableReason =
  | 'blocked_address'
  | 'dns_failed'
  | 'connect_failed'
  | 'starttls_refused'
  | 'tls_failed'
  | 'timeout'
  | 'service_account_refused'
  | 'directory_error';

export class DirectoryUnavailable extends AppError {
  readonly reason: UnavailableReason;
  constructor(reason: UnavailableReason, detail: string, cause?: unknown) {
    super(503, 'directory_unavailable', 'The directory cannot be reached right now; try again later.', {
      cause: new Error(`${reason}: ${detail}`, cause === undefined ? undefined : { cause }),
      expose: true,
    });
    this.reason = reason;
  }
}

export const isDirectoryUnavailable = (error: unknown): error is DirectoryUnavailable =>
  error instanceof DirectoryUnavailable;

/** Result codes of a bind that mean "these credentials do not sign in" (RFC 4511 appendix A). */
const REFUSED_BIND = new Set([
  32, // noSuchObject: no entry with that name
  34, // invalidDNSyntax: the name is not a DN (a UPN on a server that does not take them)
  48, // inappropriateAuthentication: e.g. a server refusing unauthenticated binds
  49, // invalidCredentials (AD adds the reason, e.g. "data 533" for a disabled account)
  53, // unwillingToPerform: some servers answer so for disabled or locked accounts
]);

/**
 * RFC 4513 section 5.1.2: a simple bind with a name and an empty password is an "unauthenticated"
 * bind, and many servers answer it with success. Whitespace-only and NUL-containing passwords are
 * refused too: some servers trim, and a C server stops at the NUL.
 */
export const isUsablePassword = (password: string): boolean =>
  password.length > 0 && password.trim().length > 0 && !password.includes('\0');

export const DEFAULT_DEADLINE_MS = 10_000;

/** One directory entry: attribute names case-insensitive, text values as strings. */
export class DirectoryEntry {
  readonly dn: string;
  readonly #text = new Map<string, string[]>();
  readonly #binary = new Map<string, Buffer[]>();

  constructor(raw: { dn: string; [name: string]: unknown }) {
    this.dn = raw.dn;
    for (const [name, value] of Object.entries(raw)) {
      if (name === 'dn') continue;
      const list = (Array.isArray(value) ? value : [value]) as unknown[];
      const key = name.toLowerCase();
      for (const item of list) {
        if (Buffer.isBuffer(item)) this.#binary.set(key, [...(this.#binary.get(key) ?? []), item]);
        else if (typeof item === 'string') this.#text.set(key, [...(this.#text.get(key) ?? []), item]);
      }
    }
  }

  values(name: string): string[] {
    return this.#text.get(name.toLowerCase()) ?? [];
  }

  first(name: string): string | undefined {
    return this.values(name)[0];
  }

  binary(name: string): Buffer | undefined {
    return this.#binary.get(name.toLowerCase())?.[0];
  }

  /** Text attributes (for the identity's raw attributes); binary ones are left out. */
  textAttributes(): [string, string[]][] {
    return [...this.#text.entries()];
  }
}

export interface RootDse {
  readonly namingContexts: readonly string[];
  defaultNamingContext?: string;
  /** LDAP_CAP_ACTIVE_DIRECTORY_OID (AD DS) or its AD LDS twin among supportedCapabilities. */
  activeDirectory: boolean;
  vendor?: string;
}

const AD_CAPABILITIES = new Set(['1.2.840.113556.1.4.800', '1.2.840.113556.1.4.1851']);

/**
 * Root DSEs read in this container, for the connection cache's time. A login used to spend one
 * round trip on it before every bind, for what rarely changes (naming contexts, AD or not). The key
 * is everything that decides which server answers and why it is trusted (rootDseKey), so a
 * connection whose URL, transport, address or CA differs in any way reads its own. Only a root DSE
 * read over a connection that then passed assertSecure is kept, and never a failed read.
 */
const rootDseCache = new TtlCache<RootDse>(CONFIG_TTL_MS);

function rootDseKey(target: Target, transport: Transport, address: string): string {
  const url = new URL(target.url);
  // The CA text itself: two connections share an entry only if they trust exactly the same roots.
  const ca = target.caPem === undefined ? 'public' : createHash('sha256').update(target.caPem).digest('hex');
  return [transport, `${url.protocol}//${url.host}`, address, ca].join('|');
}

/** Binary attributes ldapts must hand back as bytes; it matches the returned name exactly. */
const BINARY_ATTRIBUTES = ['objectGUID', 'objectguid', 'OBJECTGUID'];

export interface SearchInput {
  scope: 'base' | 'one' | 'sub';
  filter: Filter | string;
  attributes: string[];
  sizeLimit?: number;
}

function isResultCode(error: unknown): error is ResultCodeError {
  return error instanceof ResultCodeError;
}

export class Directory {
  readonly transport: Transport;
  readonly #client: Client;
  readonly #target: Target;
  readonly #address: string;
  readonly #tlsOptions: ConnectionOptions;
  readonly #deadline: number;
  #sockets = 0;
  #plain: Socket | undefined;
  #tls: TLSSocket | undefined;
  #rootDse: RootDse | undefined;
  readonly #rootDseKey: string;
  #closed = false;

  private constructor(target: Target, host: string, address: string, deadline: number) {
    const url = new URL(target.url);
    this.#target = target;
    this.#address = address;
    this.#deadline = deadline;
    this.transport = url.protocol === 'ldaps:' ? 'ldaps' : target.insecure ? 'plain' : 'starttls';
    this.#rootDseKey = rootDseKey(target, this.transport, address);
    this.#tlsOptions = {
      ...(target.caPem ? { ca: [target.caPem] } : {}),
      // SNI and the certificate's name are the URL's host, while the socket goes to the checked address.
      ...(isIP(host) ? {} : { servername: host }),
      host,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    };
    this.#client = new Client({
      url: `${url.protocol}//${url.host}`,
      timeout: target.timeoutMs,
      connectTimeout: target.connectTimeoutMs,
      // ldapts switches to TLS on connect whenever tlsOptions are set, so an ldap:// URL gets them
      // only through startTLS below.
      ...(this.transport === 'ldaps' ? { tlsOptions: this.#tlsOptions } : {}),
      createConnection: ((p: number) => this.#openPlain(p)) as unknown as typeof tcpConnect,
      createSecureConnection: ((first: number | ConnectionOptions) =>
        this.#openTls(first)) as unknown as typeof tlsConnect,
    });
  }

  /**
   * Connects (and upgrades with StartTLS), reads the root DSE unless it is cached, and checks TLS
   * is up. With a gate, the two run side by side and the gate's failure wins (see OpenOptions).
   */
  static async open(target: Target, options: OpenOptions): Promise<Directory> {
    const { gate } = options;
    if (!gate) return Directory.#open(target, options);
    // A refused gate stops a connection still being made rather than waiting for its timeout.
    const refused = new AbortController();
    const [passed, opened] = await Promise.allSettled([
      gate.catch((error: unknown) => {
        refused.abort();
        throw error;
      }),
      Directory.#open(target, options, refused.signal),
    ]);
    if (passed.status === 'rejected') {
      if (opened.status === 'fulfilled') await opened.value.close();
      throw passed.reason;
    }
    if (opened.status === 'rejected') throw opened.reason;
    return opened.value;
  }

  static async #open(target: Target, options: OpenOptions, signal?: AbortSignal): Promise<Directory> {
    const url = new URL(target.url);
    // A connection saved plain before the admin API refused it still never talks plain in AWS.
    if (target.insecure && url.protocol !== 'ldaps:' && !options.allowPrivate) {
      throw new AppError(
        400,
        'insecure_transport_not_allowed',
        'This directory connection is set to plain LDAP, which is allowed only on a local or test deployment.',
      );
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // One budget for everything, DNS included, well under the Lambda's timeout.
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const deadline = Date.now() + deadlineMs;
    const address = await withTimeout(
      resolveHost(host, options.allowPrivate, options.privateCidrs ?? []),
      deadlineMs,
      'dns lookup',
    );
    signal?.throwIfAborted();
    const directory = new Directory(target, host, address, deadline);
    const abandon = () => directory.#abandon();
    signal?.addEventListener('abort', abandon, { once: true });
    try {
      await directory.#connect(options.freshRootDse === true);
      return directory;
    } catch (error) {
      await directory.close();
      throw error;
    } finally {
      signal?.removeEventListener('abort', abandon);
    }
  }

  get rootDse(): RootDse {
    return this.#rootDse ?? { namingContexts: [], activeDirectory: false };
  }

  /** What TLS the connection really uses, for the live test report. */
  tlsInfo(): { protocol: string | null; cipher: string | undefined } | undefined {
    if (!this.#tls) return undefined;
    return { protocol: this.#tls.getProtocol(), cipher: this.#tls.getCipher()?.name };
  }

  #openPlain(port: number): Socket {
    if (this.#closed) throw new Error('the directory connection is closed');
    if (this.#sockets > 0) throw new Error('refusing to open a second socket to the directory');
    this.#sockets += 1;
    // LDAP is request/response with small messages: without TCP_NODELAY, Nagle's algorithm and the
    // server's delayed ACK stall a request sent after an idle moment by ~40 ms (measured: bench/README.md).
    this.#plain = tcpConnect({ port, host: this.#address, noDelay: true });
    return this.#plain;
  }

  #openTls(first: number | ConnectionOptions): TLSSocket {
    if (this.#closed) throw new Error('the directory connection is closed');
    if (typeof first === 'object') {
      // StartTLS: the upgrade of the socket we opened, never of another one.
      if (!this.#plain || first.socket !== this.#plain) throw new Error('StartTLS on an unknown socket');
      this.#tls = tlsConnect({ ...this.#tlsOptions, socket: this.#plain });
      return this.#tls;
    }
    if (this.#sockets > 0) throw new Error('refusing to open a second socket to the directory');
    this.#sockets += 1;
    this.#tls = tlsConnect({ ...this.#tlsOptions, port: first, host: this.#address });
    this.#tls.setNoDelay(true);
    // checkServerIdentity uses servername, else host: for an IP URL the address is that IP.
    return this.#tls;
  }

  async #connect(freshRootDse: boolean): Promise<void> {
    if (this.transport === 'starttls') {
      try {
        await this.#op(this.#client.startTLS({ ...this.#tlsOptions }), 'StartTLS');
      } catch (error) {
        if (error instanceof DirectoryUnavailable) throw error;
        // RFC 4513 section 3.1.5: the server may refuse StartTLS; we then stop, never go on in clear.
        if (isResultCode(error)) throw new DirectoryUnavailable('starttls_refused', error.message, error);
        throw classify(error, 'StartTLS');
      }
    }
    const cached = freshRootDse ? undefined : rootDseCache.get(this.#rootDseKey);
    if (cached && (await this.#connectOnly())) {
      this.#rootDse = cached;
      this.assertSecure();
      return;
    }
    const read = await this.#readRootDse();
    this.assertSecure();
    this.#rootDse = read;
    if (read) rootDseCache.set(this.#rootDseKey, read);
  }

  /**
   * Opens the socket (TLS for ldaps, verified in the handshake) without sending anything, as ldapts
   * does itself before its first operation; without the root DSE read that first operation would
   * be the bind, and assertSecure must see the connection before it. `_connect` is not in ldapts'
   * typings: if a version lacks it, false, and the root DSE is read as before.
   */
  async #connectOnly(): Promise<boolean> {
    const client = this.#client as unknown as { _connect?: () => Promise<void> | undefined };
    if (typeof client._connect !== 'function') return false;
    try {
      // Already connected after StartTLS: ldapts answers undefined.
      await this.#op(Promise.resolve(client._connect()), 'connect');
      return true;
    } catch (error) {
      throw classify(error, 'connect');
    }
  }

  /** Throws unless the one socket is up and, unless `insecure`, encrypted and verified. */
  assertSecure(): void {
    const tls = this.#tls;
    const socket = this.transport === 'plain' ? this.#plain : tls;
    // ldapts may still call itself connected after a StartTLS socket closed, so look at the socket.
    const up =
      this.#client.isConnected && this.#sockets === 1 && !this.#closed && socket && !socket.destroyed;
    if (!up) throw new DirectoryUnavailable('connect_failed', 'the connection to the directory was lost');
    if (this.transport === 'plain') return;
    if (!tls?.encrypted || !tls.authorized)
      throw new DirectoryUnavailable('tls_failed', 'TLS is not established');
  }

  /**
   * A simple bind. Wrong credentials are a result ('invalid'), not an error; everything else the
   * directory does wrong throws DirectoryUnavailable. TLS is checked right before the bind goes out.
   */
  async bind(name: string, password: string): Promise<'ok' | 'invalid'> {
    if (name.length === 0 || !isUsablePassword(password)) return 'invalid';
    this.assertSecure();
    try {
      await this.#op(this.#client.bind(name, password), 'bind');
      return 'ok';
    } catch (error) {
      if (isResultCode(error) && REFUSED_BIND.has(error.code)) {
        logger.info('directory refused a bind', { resultCode: error.code });
        return 'invalid';
      }
      throw classify(error, 'bind');
    }
  }

  /** A search; a missing base (noSuchObject) is an empty result. */
  async search(base: string, input: SearchInput): Promise<DirectoryEntry[]> {
    this.assertSecure();
    return this.#search(base, input);
  }

  async #search(base: string, input: SearchInput): Promise<DirectoryEntry[]> {
    const options: SearchOptions = {
      scope: input.scope,
      filter: input.filter,
      attributes: input.attributes,
      derefAliases: 'never',
      sizeLimit: input.sizeLimit ?? 0,
      timeLimit: Math.max(1, Math.ceil(this.#target.timeoutMs / 1000)),
      explicitBufferAttributes: BINARY_ATTRIBUTES,
    };
    try {
      const result = await this.#op(this.#client.search(base, options), 'search');
      return result.searchEntries.map((e) => new DirectoryEntry(e));
    } catch (error) {
      if (isResultCode(error) && error.code === 32) return [];
      throw classify(error, 'search');
    }
  }

  /** The root DSE; undefined when the server would not show it (then nothing is cached). */
  async #readRootDse(): Promise<RootDse | undefined> {
    let entry: DirectoryEntry | undefined;
    try {
      // For ldaps this is the first operation: it opens the (TLS-only) socket, checked just after.
      [entry] = await this.#search('', {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: [
          'namingContexts',
          'defaultNamingContext',
          'supportedCapabilities',
          'vendorName',
          'vendorVersion',
        ],
      });
    } catch (error) {
      // RFC 4512 section 5.1 lets a server hide its root DSE; only transport failures matter here.
      if (!(error instanceof DirectoryUnavailable) || error.reason !== 'directory_error') throw error;
      return undefined;
    }
    const defaultNamingContext = entry?.first('defaultNamingContext');
    const vendor = entry?.first('vendorName');
    // Frozen: one cached object is shared by every connection that reads it.
    return Object.freeze({
      namingContexts: Object.freeze(entry?.values('namingContexts') ?? []),
      ...(defaultNamingContext ? { defaultNamingContext } : {}),
      activeDirectory: (entry?.values('supportedCapabilities') ?? []).some((c) => AD_CAPABILITIES.has(c)),
      ...(vendor ? { vendor } : {}),
    });
  }

  /** Runs one client call within the deadline; at the deadline the socket is torn down. */
  async #op<T>(promise: Promise<T>, what: string): Promise<T> {
    const left = this.#deadline - Date.now();
    if (left <= 0) {
      this.#destroy();
      promise.catch(() => undefined);
      throw new DirectoryUnavailable('timeout', `${what}: deadline passed`);
    }
    try {
      return await withTimeout(promise, left, what);
    } catch (error) {
      if (error instanceof DirectoryUnavailable && error.reason === 'timeout') this.#destroy();
      throw error;
    }
  }

  /** The gate failed while connecting: the pending operation fails at once, and nothing reconnects. */
  #abandon(): void {
    this.#closed = true;
    this.#destroy();
  }

  #destroy(): void {
    const error = new Error('directory connection closed');
    this.#tls?.destroy(error);
    this.#plain?.destroy(error);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.transport === 'plain' ? this.#plain : this.#tls;
    if (this.#client.isConnected && socket && !socket.destroyed) {
      await withTimeout(this.#client.unbind(), 500, 'unbind').catch(() => undefined);
    }
    this.#tls?.destroy();
    this.#plain?.destroy();
  }
}

/** Opens a directory connection, runs `use`, and always closes it. */
export async function withDirectory<T>(
  target: Target,
  options: OpenOptions,
  use: (directory: Directory) => Promise<T>,
): Promise<T> {
  const directory = await Directory.open(target, options);
  try {
    return await use(directory);
  } finally {
    await directory.close();
  }
}

/** Node's TLS failures: a certificate that does not verify, a name that does not match, no TLS. */
const TLS_ERROR = /^(ERR_TLS|ERR_SSL)|CERT|SELF_SIGNED|UNABLE_TO/;

/** Turns whatever ldapts or the socket threw into DirectoryUnavailable with a reason. */
function classify(error: unknown, what: string): DirectoryUnavailable {
  if (error instanceof DirectoryUnavailable) return error;
  const message = error instanceof Error ? error.message : String(error);
  const detail = `${what}: ${message}`;
  if (isResultCode(error)) return new DirectoryUnavailable('directory_error', detail, error);
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  if (/timed? ?out|timeout/i.test(message)) return new DirectoryUnavailable('timeout', detail, error);
  if ((code !== undefined && TLS_ERROR.test(code)) || /certificate|SSL|TLS/i.test(message)) {
    return new DirectoryUnavailable('tls_failed', detail, error);
  }
  return new DirectoryUnavailable('connect_failed', detail, error);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DirectoryUnavailable('timeout', `${what}: no answer in ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => undefined);
  }
}

/** The address to connect to: the host's first address that the SSRF rules allow. */
async function resolveHost(
  host: string,
  allowPrivate: boolean,
  privateCidrs: readonly string[],
): Promise<string> {
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (cause) {
      throw new DirectoryUnavailable('dns_failed', `cannot resolve ${host}`, cause);
    }
  }
  const usable = allowPrivate
    ? addresses
    : addresses.filter((a) => !isInternalAddress(a) || isOpenedPrivate(a, privateCidrs));
  const address = usable[0];
  if (address === undefined) {
    throw new DirectoryUnavailable('blocked_address', `${host} resolves only to internal addresses`);
  }
  return address;
}
