import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'ldapts';

/**
 * A real OpenLDAP (slapd) for the LDAP tests: its own process on free loopback ports, its own
 * config and database in a temp dir, a test CA and server certificate made with the openssl CLI,
 * seeded over LDAP from an LDIF file (so the memberOf overlay sees the adds). Needs the Debian
 * packages slapd and ldap-utils.
 */
const run = promisify(execFile);
const SLAPD = '/usr/sbin/slapd';
const MODULES = '/usr/lib/ldap';
const SCHEMA = '/etc/ldap/schema';

export const BASE_DN = 'dc=example,dc=test';
export const ADMIN_DN = `cn=admin,${BASE_DN}`;
/** The fixture directory's service account (directory.ldif), for search-based DN resolution. */
export const SVC = { dn: `cn=svc,ou=system,${BASE_DN}`, password: 'svc-Pa55!' };

/** An LDAP connection's `ldap` body against this slapd over ldaps, finding users by search. */
export const searchLdap = (slapd: Pick<Slapd, 'ldapsUrl' | 'caPem'>, over: Record<string, unknown> = {}) => ({
  url: slapd.ldapsUrl,
  caPem: slapd.caPem,
  dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
  ...over,
});
const ADMIN_PASSWORD = 'admin-secret';
export const FIXTURE = join(import.meta.dirname, '../fixtures/ldap/directory.ldif');

/** AD's attributes, so entries can carry userAccountControl like an AD account. */
const AD_SCHEMA = `attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.1 NAME 'testAdAccount' SUP top AUXILIARY
  MAY ( objectGUID $ userAccountControl $ userPrincipalName ) )
`;

export interface TestCa {
  caPem: string;
  certFile: string;
  keyFile: string;
  caFile: string;
}

async function openssl(args: string[], cwd: string) {
  await run('openssl', args, { cwd });
}

/** A CA and a server certificate for 127.0.0.1 / localhost, signed by it (EC P-256, 2 days). */
export async function makeTestCa(dir: string, name = 'LDAP Test CA'): Promise<TestCa> {
  mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
    ].join('\n'),
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  return {
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
  };
}

/** A free TCP port on 127.0.0.1 (closed again; slapd binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

export interface Slapd {
  /** ldap://127.0.0.1:port (StartTLS available when tls is on). */
  ldapUrl: string;
  /** ldaps://127.0.0.1:port, when tls is on. */
  ldapsUrl: string;
  /** The CA that signed the server's certificate. */
  caPem: string;
  /** slapd's stats log so far (connections, binds, searches). */
  log(): string;
  /** Runs `use` with a client bound as the directory's root DN (test set-up only). */
  admin<T>(use: (client: Client) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export interface SlapdOptions {
  /** TLS listeners and certificates; off gives a directory that refuses StartTLS. */
  tls?: boolean;
  /** LDIF file to seed from. */
  ldif?: string;
}

async function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = tcpConnect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  const tls = options.tls ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'slapd-'));
  mkdirSync(join(dir, 'db'));
  const ca = tls ? await makeTestCa(join(dir, 'tls')) : undefined;
  writeFileSync(join(dir, 'ad.schema'), AD_SCHEMA);
  writeFileSync(
    join(dir, 'slapd.conf'),
    [
      ...['core', 'cosine', 'inetorgperson'].map((s) => `include ${SCHEMA}/${s}.schema`),
      `include ${join(dir, 'ad.schema')}`,
      `modulepath ${MODULES}`,
      'moduleload back_mdb',
      'moduleload memberof',
      'moduleload refint',
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      ...(ca
        ? [
            `TLSCACertificateFile ${ca.caFile}`,
            `TLSCertificateFile ${ca.certFile}`,
            `TLSCertificateKeyFile ${ca.keyFile}`,
          ]
        : []),
      'database mdb',
      'maxsize 16777216',
      `suffix "${BASE_DN}"`,
      `rootdn "${ADMIN_DN}"`,
      `rootpw ${ADMIN_PASSWORD}`,
      `directory ${join(dir, 'db')}`,
      // memberOf on users and on groups that are members of groups (nested), kept on deletes.
      'overlay memberof',
      'memberof-refint TRUE',
      'overlay refint',
      'refint_attributes member',
      'access to attrs=userPassword by anonymous auth by self write by * none',
      // People here are visible to a bound service account only, not to anonymous searches.
      `access to dn.subtree="ou=restricted,${BASE_DN}" by users read by * none`,
      'access to * by * read',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let output = '';
  let ports: { ldap: number; ldaps: number } = { ldap: 0, ldaps: 0 };
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    ports = { ldap: await freePort(), ldaps: await freePort() };
    const listeners = [
      `ldap://127.0.0.1:${ports.ldap}/`,
      ...(tls ? [`ldaps://127.0.0.1:${ports.ldaps}/`] : []),
    ];
    output = '';
    // -d 256 (stats): stay in the foreground and log every connection and operation to stderr.
    const started = spawn(SLAPD, ['-f', join(dir, 'slapd.conf'), '-h', listeners.join(' '), '-d', '256'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-2_000_000);
    };
    started.stdout?.on('data', collect);
    started.stderr?.on('data', collect);
    let exited = false;
    started.once('exit', () => {
      exited = true;
    });
    const until = Date.now() + 10_000;
    while (!exited && Date.now() < until && !(await acceptsConnections(ports.ldap))) await sleep(50);
    if (!exited && (await acceptsConnections(ports.ldap))) child = started;
    else if (!exited) started.kill('SIGKILL');
  }
  if (!child) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`slapd did not start:\n${output.slice(-4000)}`);
  }

  const ldapUrl = `ldap://127.0.0.1:${ports.ldap}`;
  try {
    await run('ldapadd', [
      '-x',
      '-H',
      ldapUrl,
      '-D',
      ADMIN_DN,
      '-w',
      ADMIN_PASSWORD,
      '-f',
      options.ldif ?? FIXTURE,
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`seeding slapd failed: ${(error as Error).message}\n${output.slice(-4000)}`);
  }

  const slapdProcess = child;
  return {
    ldapUrl,
    ldapsUrl: `ldaps://127.0.0.1:${ports.ldaps}`,
    caPem: ca?.caPem ?? '',
    log: () => output,
    async admin(use) {
      const client = new Client({ url: ldapUrl, timeout: 5000, connectTimeout: 2000 });
      try {
        await client.bind(ADMIN_DN, ADMIN_PASSWORD);
        return await use(client);
      } finally {
        await client.unbind().catch(() => undefined);
      }
    },
    async stop() {
      if (slapdProcess.exitCode === null && slapdProcess.signalCode === null) {
        const exited = new Promise<void>((done) => slapdProcess.once('exit', () => done()));
        slapdProcess.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (slapdProcess.exitCode === null && slapdProcess.signalCode === null) slapdProcess.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
