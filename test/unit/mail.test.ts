import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MessageRejected, SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mailSettings, readConfig } from '../../shared/config.ts';
import { isAppError } from '../../shared/errors.ts';
import { LocalMailer, type MailMessage, SesMailer } from '../../shared/ports/mail.ts';
import { configureRuntime, runtime } from '../../shared/runtime.ts';

const ses = mockClient(SESv2Client);
beforeEach(() => {
  ses.reset();
  vi.unstubAllEnvs();
});

const invitation: MailMessage = {
  to: 'ada@example.com',
  subject: 'You are invited to Acme',
  text: 'Set your password: https://sso.example.com/invite#token',
  tag: 'invitation',
};

/** The error a send rejected with, checked to be the port's 503. */
async function unavailable(sending: Promise<void>) {
  const error = await sending.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  expect(error).toMatchObject({ status: 503, code: 'mail_unavailable', expose: true });
  return error;
}

describe('SesMailer', () => {
  it('sends one SendEmail: sender, recipient, subject, text body, configuration set and tag', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    const mailer = new SesMailer(new SESv2Client({}), {
      from: 'no-reply@sso.example.com',
      configurationSet: 'sso-prod',
    });
    await mailer.send(invitation);
    const calls = ses.commandCalls(SendEmailCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      FromEmailAddress: 'no-reply@sso.example.com',
      Destination: { ToAddresses: ['ada@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'You are invited to Acme', Charset: 'UTF-8' },
          Body: { Text: { Data: invitation.text, Charset: 'UTF-8' } },
        },
      },
      ConfigurationSetName: 'sso-prod',
      EmailTags: [{ Name: 'type', Value: 'invitation' }],
    });
  });

  it('adds an HTML alternative only when given, and no configuration set or tag unless named', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-2' });
    const mailer = new SesMailer(new SESv2Client({}), { from: 'no-reply@sso.example.com' });
    await mailer.send({ to: 'bob@example.com', subject: 'Reset', text: 'plain', html: '<p>rich</p>' });
    const input = ses.commandCalls(SendEmailCommand)[0]?.args[0].input;
    expect(input?.Content?.Simple?.Body).toEqual({
      Text: { Data: 'plain', Charset: 'UTF-8' },
      Html: { Data: '<p>rich</p>', Charset: 'UTF-8' },
    });
    expect(input).not.toHaveProperty('ConfigurationSetName');
    expect(input).not.toHaveProperty('EmailTags');
  });

  it('turns an SES failure into 503 mail_unavailable, keeping the SES error as the cause', async () => {
    const refused = new MessageRejected({ message: 'Email address is not verified.', $metadata: {} });
    ses.on(SendEmailCommand).rejects(refused);
    const mailer = new SesMailer(new SESv2Client({}), { from: 'no-reply@sso.example.com' });
    const error = await unavailable(mailer.send(invitation));
    expect(error.cause).toBe(refused);
    expect(error.message).not.toContain('verified');
    expect(error.headers).toEqual({ 'retry-after': '30' });
  });

  it('gives up on an SES that does not answer: 503 within the timeout', async () => {
    ses.on(SendEmailCommand).callsFake(() => new Promise(() => {}));
    const mailer = new SesMailer(new SESv2Client({}), { from: 'no-reply@sso.example.com', timeoutMs: 200 });
    const started = performance.now();
    const error = await unavailable(mailer.send(invitation));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2000);
    expect(String((error.cause as Error).message)).toMatch(/within 200 ms/);
  });

  it.each([
    [{ to: 'a@example.com, b@example.com' }, /single e-mail address/],
    [{ to: 'Ada <ada@example.com>' }, /single e-mail address/],
    [{ subject: 'Hi\r\nBcc: eve@example.com' }, /single line/],
    [{ tag: 'password reset' }, /tag/],
  ])('refuses a malformed message %j before calling SES', async (change, message) => {
    const mailer = new SesMailer(new SESv2Client({}), { from: 'no-reply@sso.example.com' });
    await expect(mailer.send({ ...invitation, ...change })).rejects.toThrow(message);
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(0);
  });
});

describe('mail configuration', () => {
  it('reads MAIL_FROM and MAIL_CONFIGURATION_SET, checked', () => {
    const config = readConfig({
      TABLE_NAME: 'sso',
      MAIL_FROM: 'no-reply@sso.example.com',
      MAIL_CONFIGURATION_SET: 'sso-prod',
    });
    expect(mailSettings(config)).toEqual({ from: 'no-reply@sso.example.com', configurationSet: 'sso-prod' });
    expect(() => readConfig({ TABLE_NAME: 'sso', MAIL_FROM: 'nobody' })).toThrow(/MAIL_FROM/);
    expect(() => readConfig({ TABLE_NAME: 'sso', MAIL_CONFIGURATION_SET: 'a b' })).toThrow(
      /MAIL_CONFIGURATION_SET/,
    );
  });

  it('lets a function without MAIL_FROM start; sending then fails naming the variable', async () => {
    expect(() => mailSettings(readConfig({ TABLE_NAME: 'sso' }))).toThrow(/MAIL_FROM/);
    vi.stubEnv('TABLE_NAME', 'sso');
    vi.stubEnv('BASE_URL', 'https://sso.example.com');
    vi.stubEnv('MAIL_FROM', undefined);
    configureRuntime({});
    const { mail } = runtime();
    await expect(mail.send(invitation)).rejects.toThrow(/MAIL_FROM/);
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(0);
  });

  it('gives the runtime an SES mailer with the configured sender and configuration set', async () => {
    vi.stubEnv('TABLE_NAME', 'sso');
    vi.stubEnv('BASE_URL', 'https://sso.example.com');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('MAIL_FROM', 'no-reply@sso.example.com');
    vi.stubEnv('MAIL_CONFIGURATION_SET', 'sso-prod');
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-3' });
    configureRuntime({});
    await runtime().mail.send(invitation);
    expect(ses.commandCalls(SendEmailCommand)[0]?.args[0].input).toMatchObject({
      FromEmailAddress: 'no-reply@sso.example.com',
      ConfigurationSetName: 'sso-prod',
    });
  });
});

describe('LocalMailer', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('writes each message as an .eml file in the outbox and logs one line saying where', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'sso-mail-')), 'outbox');
    dirs.push(dirname(dir));
    const lines: string[] = [];
    const mailer = new LocalMailer({ dir, from: 'sso@localhost', log: (line) => lines.push(line) });
    await mailer.send(invitation);
    await mailer.send({ to: 'bob@example.com', subject: 'Reset', text: 'plain', html: '<p>rich</p>' });

    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(2);
    const [first, second] = mailer.messages;
    expect(first?.file).toBe(join(dir, files[0] ?? ''));
    expect(second?.file).toBe(join(dir, files[1] ?? ''));

    const eml = await readFile(first?.file ?? '', 'utf8');
    expect(eml).toContain('From: sso@localhost\n');
    expect(eml).toContain('To: ada@example.com\n');
    expect(eml).toContain('Subject: You are invited to Acme\n');
    expect(eml).toContain('X-Mail-Tag: invitation\n');
    expect(eml).toContain(`\n\n${invitation.text}\n`);
    // The links in it are secrets: only the owner may read the file.
    expect((await stat(first?.file ?? '')).mode & 0o777).toBe(0o600);

    const alternative = await readFile(second?.file ?? '', 'utf8');
    expect(alternative).toContain('multipart/alternative');
    expect(alternative).toContain('<p>rich</p>');

    // One line per message: recipient, subject, file; never the body (it holds the link).
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('ada@example.com');
    expect(lines[0]).toContain('You are invited to Acme');
    expect(lines[0]).toContain(first?.file);
    expect(lines.join('\n')).not.toContain('https://sso.example.com/invite');
  });

  it('keeps messages in memory without an outbox folder, for tests to read', async () => {
    const lines: string[] = [];
    const mailer = new LocalMailer({ log: (line) => lines.push(line) });
    await mailer.send(invitation);
    await mailer.send({ ...invitation, text: 'second link' });
    expect(mailer.messages).toHaveLength(2);
    expect(mailer.messages[0]).toMatchObject({ ...invitation, from: 'sso@localhost' });
    expect(mailer.messages[0]?.file).toBeUndefined();
    expect(mailer.lastTo('ADA@example.com')?.text).toBe('second link');
    expect(mailer.lastTo('nobody@example.com')).toBeUndefined();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/in memory/);
  });

  it('refuses a malformed message like the SES adapter does', async () => {
    const mailer = new LocalMailer({ log: () => {} });
    await expect(mailer.send({ ...invitation, subject: 'a\nb' })).rejects.toThrow(/single line/);
    expect(mailer.messages).toHaveLength(0);
  });
});
