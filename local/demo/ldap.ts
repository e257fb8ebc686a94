import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'ldapts';
import { freePort } from '../dynamodb.ts';
import { DEMO_OWNER, DEMO_USERS } from './common.ts';

/**
 * The demo LDAP directory: OpenLDAP's slapd (when installed) in a temp dir on a free loopback port,
 * with StartTLS from a CA made for this run, the demo people under ou=people and the groups
 * engineering and admins. Nothing is kept: it starts empty and is seeded at every start.
 */
export const SLAPD = '/usr/sbin/slapd';
export const LDAP_BASE_DN = 'dc=demo,dc=test';
/** Every demo person's directory password (printed at start-up). */
export const LDAP_PASSWORD = 'demo-password';
const ADMIN_DN = `cn=admin,${LDAP_BASE_DN}`;
const SERVICE_DN = `cn=sso-service,ou=system,${LDAP_BASE_DN}`;

export interface DemoLdap {
  /** ldap://127.0.0.1:{port}; the service upgrades it with StartTLS. */
  url: string;
  /** The CA of the server certificate. */
  caPem: string;
  /** The connection's `ldap` object: search DN resolution with a service account, group search. */
  config(): Record<string, unknown>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** A CA and a certificate for 127.0.0.1 and localhost signed by it (openssl, EC P-256, 30 days). */
async function makeCertificates(dir: string) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = ['-subj', '/CN=Demo LDAP CA', '-addext', 'basicConstraints=critical,CA:TRUE'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', ...ca], {
    cwd: dir,
  });
  await run(
    'openssl',
    ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'],
    {
      cwd: dir,
    },
  );
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  await run(
    'openssl',
    [
      ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-out', 'server.pem', '-days', '30', '-extfile', 'server.ext'],
    ],
    { cwd: dir },
  );
  return readFile(join(dir, 'ca.pem'), 'utf8');
}

const listening = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

async function seed(url: string, adminPassword: string, servicePassword: string, ownerPassword?: string) {
  const client = new Client({ url, timeout: 5000, connectTimeout: 3000 });
  try {
    await client.bind(ADMIN_DN, adminPassword);
    const add = (dn: string, attributes: Record<string, string | string[]>) => client.add(dn, attributes);
    await add(LDAP_BASE_DN, { objectClass: ['dcObject', 'organization'], dc: 'demo', o: 'Demo Company' });
    for (const ou of ['people', 'groups', 'system']) {
      await add(`ou=${ou},${LDAP_BASE_DN}`, { objectClass: 'organizationalUnit', ou });
    }
    await add(SERVICE_DN, {
      objectClass: ['organizationalRole', 'simpleSecurityObject'],
      cn: 'sso-service',
      userPassword: servicePassword,
    });
    const dnOf = (uid: string) => `uid=${uid},ou=people,${LDAP_BASE_DN}`;
    for (const u of DEMO_USERS) {
      await add(dnOf(u.uid), {
        objectClass: 'inetOrgPerson',
        uid: u.uid,
        cn: `${u.firstName} ${u.lastName}`,
        givenName: u.firstName,
        sn: u.lastName,
        mail: u.email,
        userPassword: LDAP_PASSWORD,
      });
    }
    if (ownerPassword) {
      await add(dnOf(DEMO_OWNER.uid), {
        objectClass: 'inetOrgPerson',
        uid: DEMO_OWNER.uid,
        cn: `${DEMO_OWNER.firstName} ${DEMO_OWNER.lastName}`,
        givenName: DEMO_OWNER.firstName,
        sn: DEMO_OWNER.lastName,
        mail: DEMO_OWNER.email,
        userPassword: ownerPassword,
      });
    }
    for (const group of ['engineering', 'admins']) {
      const members = DEMO_USERS.filter((u) => (u.groups as readonly string[]).includes(group));
      await add(`cn=${group},ou=groups,${LDAP_BASE_DN}`, {
        objectClass: 'groupOfNames',
        cn: group,
        member: members.map((u) => dnOf(u.uid)),
      });
    }
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/**
 * Starts and seeds slapd, or answers undefined (with one log line) when it is not installed. With
 * `ownerPassword`, the demo owner (DEMO_OWNER) is in the directory too, with that password.
 */
export async function startDemoLdap(ownerPassword?: string): Promise<DemoLdap | undefined> {
  if (!existsSync(SLAPD)) {
    console.log(`  Demo LDAP: skipped (${SLAPD} is not installed; apt-get install slapd)`);
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'demo-slapd-'));
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child?.once('exit', done));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  // The stack stops it; this covers an exit that never got there.
  const onExit = () => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(join(dir, 'db'));
    const caPem = await makeCertificates(dir);
    // The root DN (seeding only) and the service account get fresh passwords every run.
    const adminPassword = randomBytes(16).toString('hex');
    const servicePassword = randomBytes(16).toString('hex');
    await writeFile(
      join(dir, 'slapd.conf'),
      [
        ...['core', 'cosine', 'inetorgperson'].map((s) => `include /etc/ldap/schema/${s}.schema`),
        'modulepath /usr/lib/ldap',
        'moduleload back_mdb',
        `pidfile ${join(dir, 'slapd.pid')}`,
        `TLSCACertificateFile ${join(dir, 'ca.pem')}`,
        `TLSCertificateFile ${join(dir, 'server.pem')}`,
        `TLSCertificateKeyFile ${join(dir, 'server.key')}`,
        'database mdb',
        'maxsize 16777216',
        `suffix "${LDAP_BASE_DN}"`,
        `rootdn "${ADMIN_DN}"`,
        `rootpw ${adminPassword}`,
        `directory ${join(dir, 'db')}`,
        'access to attrs=userPassword by anonymous auth by self write by * none',
        'access to * by users read by * none',
      ].join('\n'),
      { mode: 0o600 },
    );
    const port = await freePort();
    const url = `ldap://127.0.0.1:${port}`;
    let output = '';
    // -d 0: in the foreground (so it stops with us), quiet.
    child = spawn(SLAPD, ['-f', join(dir, 'slapd.conf'), '-h', `${url}/`, '-d', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    process.once('exit', onExit);
    child.stdout?.on('data', (c: Buffer) => {
      output = (output + c.toString()).slice(-4000);
    });
    child.stderr?.on('data', (c: Buffer) => {
      output = (output + c.toString()).slice(-4000);
    });
    const until = Date.now() + 10_000;
    while (child.exitCode === null && Date.now() < until && !(await listening(port))) await sleep(50);
    if (!(await listening(port))) throw new Error(`slapd did not start: ${output.trim()}`);
    await seed(url, adminPassword, servicePassword, ownerPassword);
    return {
      url,
      caPem,
      config: () => ({
        url,
        caPem,
        dnResolution: {
          method: 'search',
          baseDn: `ou=people,${LDAP_BASE_DN}`,
          serviceAccount: { dn: SERVICE_DN, password: servicePassword },
        },
        groupSearch: { baseDn: `ou=groups,${LDAP_BASE_DN}` },
      }),
      async stop() {
        process.off('exit', onExit);
        await stop();
      },
    };
  } catch (error) {
    process.off('exit', onExit);
    await stop();
    console.log(`  Demo LDAP: skipped (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
}
