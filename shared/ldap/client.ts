import { lookup } from 'node:dns/promises';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { Client, type Filter, ResultCodeError, type SearchOptions } from 'ldapts';
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
 */
export type Target = Pick<LdapConfig, 'url' | 'caPem' | 'insecure' | 'connectTimeoutMs' | 'timeoutMs'>;

export interface OpenOptions {
  allowPrivate: boolean;
  /** Private ranges opened for directories (PRIVATE_DIRECTORY_CIDRS). */
  privateCidrs?: readonly string[];
  /** Everything this connection does must finish within this many ms (well under Lambda's timeout). */
  deadlineMs?: number;
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
  namingContexts: string[];
  defaultNamingContext?: string;
  /** LDAP_CAP_ACTIVE_DIRECTORY_OID (AD DS) or its AD LDS twin among supportedCapabilities. */
  activeDirectory: boolean;
  vendor?: string;
}

const AD_CAPABILITIES = new Set(['1.2.840.113556.1.4.800', '1.2.840.113556.1.4.1851']);

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
  #closed = false;

  private constructor(target: Target, host: string, address: string, deadline: number) {
    const url = new URL(target.url);
    this.#target = target;
    this.#address = address;
    this.#deadline = deadline;
    this.transport = url.protocol === 'ldaps:' ? 'ldaps' : target.insecure ? 'plain' : 'starttls';
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

  /** Connects (and upgrades with StartTLS), reads the root DSE, and checks TLS is up. */
  static async open(target: Target, options: OpenOptions): Promise<Directory> {
    const url = new URL(target.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // One budget for everything, DNS included, well under the Lambda's timeout.
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const deadline = Date.now() + deadlineMs;
    const address = await withTimeout(
      resolveHost(host, options.allowPrivate, options.privateCidrs ?? []),
      deadlineMs,
      'dns lookup',
    );
    const directory = new Directory(target, host, address, deadline);
    try {
      await directory.#connect();
      return directory;
    } catch (error) {
      await directory.close();
      throw error;
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
    if (this.#sockets > 0) throw new Error('refusing to open a second socket to the directory');
    this.#sockets += 1;
    this.#plain = tcpConnect({ port, host: this.#address });
    return this.#plain;
  }

  #openTls(first: number | ConnectionOptions): TLSSocket {
    if (typeof first === 'object') {
      // StartTLS: the upgrade of the socket we opened, never of another one.
      if (!this.#plain || first.socket !== this.#plain) throw new Error('StartTLS on an unknown socket');
      this.#tls = tlsConnect({ ...this.#tlsOptions, socket: this.#plain });
      return this.#tls;
    }
    if (this.#sockets > 0) throw new Error('refusing to open a second socket to the directory');
    this.#sockets += 1;
    this.#tls = tlsConnect({ ...this.#tlsOptions, port: first, host: this.#address });
    // checkServerIdentity uses servername, else host: for an IP URL the address is that IP.
    return this.#tls;
  }

  async #connect(): Promise<void> {
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
    this.#rootDse = await this.#readRootDse();
    this.assertSecure();
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

  async #readRootDse(): Promise<RootDse> {
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
    }
    const defaultNamingContext = entry?.first('defaultNamingContext');
    const vendor = entry?.first('vendorName');
    return {
      namingContexts: entry?.values('namingContexts') ?? [],
      ...(defaultNamingContext ? { defaultNamingContext } : {}),
      activeDirectory: (entry?.values('supportedCapabilities') ?? []).some((c) => AD_CAPABILITIES.has(c)),
      ...(vendor ? { vendor } : {}),
    };
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
