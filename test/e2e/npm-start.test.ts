import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../local/dynamodb.ts';

/** `npm start` as a newcomer runs it: up, serving, demo seeded, and gone with its DynamoDB Local. */
const portOpen = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

describe('npm start', () => {
  it('serves /health and the demo, prints the operator token, and SIGTERM stops DynamoDB Local too', async () => {
    const port = await freePort();
    const child = spawn('node_modules/.bin/tsx', ['local/start.ts'], {
      // Only what a newcomer's shell would have: no variables left by other suites in this worker.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        PORT: String(port),
        LOCAL_DATA_DIR: ':memory:',
        POWERTOOLS_LOG_LEVEL: 'WARN',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    try {
      const deadline = Date.now() + 60_000;
      // The start-up lines may reach the pipe in several chunks: wait for the last one read below.
      const ready = () =>
        output.includes('listening on') && /owner owner@demo\.test, password \S+\)/.test(output);
      while (!ready() && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(output).toContain(`listening on http://localhost:${port}`);
      const token = /Operator token[^:]*: (\S+)/.exec(output)?.[1] ?? '';
      expect(token).toMatch(/^[\w-]{40,}$/);
      const dynamoPort = Number(/DynamoDB Local: http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);

      expect((await fetch(`http://localhost:${port}/health`)).status).toBe(200);
      const tenant = await fetch(`http://localhost:${port}/admin/tenants/demo`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(tenant.status).toBe(200);
      expect(await (await fetch(`http://localhost:${port}/demo/idp`)).text()).toContain('Demo IdP portal');
      // The demo owner's password, printed for the console, signs her in.
      const password = /owner owner@demo\.test, password (\S+)\)/.exec(output)?.[1] ?? '';
      expect(password).toMatch(/^demo-[\w-]{16}$/);
      const login = await fetch(`http://localhost:${port}/login/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ tenantId: 'demo', email: 'owner@demo.test', password }),
      });
      expect(login.status).toBe(200);
      expect(((await login.json()) as { session: { role: string } }).session.role).toBe('owner');
      expect(await portOpen(dynamoPort)).toBe(true);

      child.kill('SIGTERM');
      await once(child, 'exit');
      expect(await portOpen(port)).toBe(false);
      expect(await portOpen(dynamoPort)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
