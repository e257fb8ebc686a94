import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SESv2Client, SendEmailCommand, type SendEmailCommandInput } from '@aws-sdk/client-sesv2';
import { AppError } from '../errors.ts';
import { logger } from '../logger.ts';

/**
 * The mail port: invitations and password-reset links go out through it. Messages are text first
 * (every mail client shows them, and a link in plain text survives forwarding); `html` is an
 * optional alternative. Mail bodies carry single-use links, so they are secrets: no adapter logs
 * a body.
 */
export interface MailMessage {
  /** One recipient address. */
  to: string;
  /** One line. */
  subject: string;
  text: string;
  html?: string;
  /** What kind of mail this is (`invitation`, `password-reset`): an SES message tag, for metrics. */
  tag?: string;
}

export interface Mailer {
  /** Sends one message; a mail service that fails or does not answer in time is a 503 `mail_unavailable`. */
  send(message: MailMessage): Promise<void>;
}

/** How long a send may take, retries included, before the request gives up with a 503. */
export const MAIL_TIMEOUT_MS = 5000;

/** The one error a caller sees when mail cannot go out; the SES error stays in the logs. */
export const mailUnavailable = (cause: unknown): AppError =>
  new AppError(503, 'mail_unavailable', 'Mail cannot be sent right now; try again later.', {
    cause,
    expose: true,
    headers: { 'retry-after': '30' },
  });

// Same shapes SES accepts: one address, no list, no display name; SES tag values are limited to
// ASCII letters, digits, `_` and `-`. Violations are bugs in the caller, not a mail outage.
const ADDRESS = /^[^\s@,;<>"]+@[^\s@,;<>"]+$/;
const TAG = /^[A-Za-z0-9_-]{1,256}$/;

function checkMessage(message: MailMessage): void {
  if (!ADDRESS.test(message.to)) throw new TypeError('Mail recipient must be a single e-mail address');
  if (/[\r\n]/.test(message.subject)) throw new TypeError('Mail subject must be a single line');
  if (message.tag !== undefined && !TAG.test(message.tag)) {
    throw new TypeError('Mail tag must be letters, digits, "_" or "-"');
  }
}

/** Rejects with the signal's reason once it aborts: stops waiting even if the request ignores it. */
const whenAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

export interface SesMailerOptions {
  /** The sender: an address on the SES identity the function may send from. */
  from: string;
  /** SES configuration set (event publishing for bounces, complaints, deliveries). */
  configurationSet?: string;
  timeoutMs?: number;
}

/**
 * Amazon SES v2, SendEmail with Simple content. The whole send (SDK retries included) is bounded
 * by one abort signal: a slow SES answers the caller 503 within `timeoutMs`, well inside the
 * function's own timeout, instead of a gateway timeout. The client should also carry a socket
 * timeout (runtime.ts) so an abandoned request does not hold a connection.
 */
export class SesMailer implements Mailer {
  readonly #timeoutMs: number;

  constructor(
    private readonly client: SESv2Client,
    private readonly options: SesMailerOptions,
  ) {
    this.#timeoutMs = options.timeoutMs ?? MAIL_TIMEOUT_MS;
  }

  async send(message: MailMessage): Promise<void> {
    checkMessage(message);
    const utf8 = (data: string) => ({ Data: data, Charset: 'UTF-8' });
    const input: SendEmailCommandInput = {
      FromEmailAddress: this.options.from,
      Destination: { ToAddresses: [message.to] },
      Content: {
        Simple: {
          Subject: utf8(message.subject),
          Body: { Text: utf8(message.text), ...(message.html ? { Html: utf8(message.html) } : {}) },
        },
      },
      ...(this.options.configurationSet ? { ConfigurationSetName: this.options.configurationSet } : {}),
      ...(message.tag ? { EmailTags: [{ Name: 'type', Value: message.tag }] } : {}),
    };
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      await Promise.race([
        this.client.send(new SendEmailCommand(input), { abortSignal: signal }),
        whenAborted(signal),
      ]);
    } catch (error) {
      throw mailUnavailable(
        signal.aborted
          ? new Error(`SES did not answer within ${this.#timeoutMs} ms`, { cause: error })
          : error,
      );
    }
  }
}

/** A message as the local adapter kept it. */
export interface SentMail extends MailMessage {
  id: string;
  from: string;
  /** ISO time it was sent. */
  time: string;
  /** The .eml file it was written to; none in memory-only mode. */
  file?: string;
}

export interface LocalMailerOptions {
  /** The outbox folder (`{LOCAL_DATA_DIR}/outbox`); memory only when absent. */
  dir?: string;
  from?: string;
  /** Where the one line per message goes; the service logger (info) by default. */
  log?: (line: string) => void;
  /** How many messages `messages` keeps. */
  keep?: number;
}

/** A message as an .eml file: any mail client opens it, any editor shows the text and its links. */
function eml(mail: SentMail): string {
  const headers = [
    `From: ${mail.from}`,
    `To: ${mail.to}`,
    `Subject: ${mail.subject}`,
    `Date: ${new Date(mail.time).toUTCString()}`,
    `Message-ID: <${mail.id}@localhost>`,
    ...(mail.tag ? [`X-Mail-Tag: ${mail.tag}`] : []),
    'MIME-Version: 1.0',
  ];
  const part = (type: string, body: string) =>
    [`Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: 8bit', '', body].join('\n');
  if (!mail.html) return `${[...headers, part('text/plain', mail.text)].join('\n')}\n`;
  const boundary = `sso-${mail.id}`;
  return `${[
    ...headers,
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    part('text/plain', mail.text),
    `--${boundary}`,
    part('text/html', mail.html),
    `--${boundary}--`,
  ].join('\n')}\n`;
}

/**
 * The local adapter (`npm start`, tests): each message becomes an .eml file in the outbox folder
 * (mode 0600: the links in it are secrets) and one log line saying where to read it. The line
 * names the recipient, the subject and the file, never the body. Tests read `messages`.
 */
export class LocalMailer implements Mailer {
  /** What was sent, oldest first. */
  readonly messages: SentMail[] = [];
  readonly #dir: string | undefined;
  readonly #from: string;
  readonly #log: (line: string) => void;
  readonly #keep: number;

  constructor(options: LocalMailerOptions = {}) {
    this.#dir = options.dir;
    this.#from = options.from ?? 'sso@localhost';
    this.#log = options.log ?? ((line) => logger.info(line));
    this.#keep = options.keep ?? 1000;
  }

  async send(message: MailMessage): Promise<void> {
    checkMessage(message);
    const time = new Date();
    const mail: SentMail = {
      ...message,
      id: randomBytes(6).toString('hex'),
      from: this.#from,
      time: time.toISOString(),
    };
    if (this.#dir) {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      // The time first, so the folder lists in sending order.
      mail.file = join(this.#dir, `${mail.time.replace(/[:.]/g, '-')}-${mail.id}.eml`);
      await writeFile(mail.file, eml(mail), { mode: 0o600 });
    }
    this.messages.push(mail);
    if (this.messages.length > this.#keep) this.messages.shift();
    this.#log(`mail to ${mail.to} "${mail.subject}": ${mail.file ?? 'kept in memory (no LOCAL_DATA_DIR)'}`);
  }

  /** The newest message to `address` (compared case-insensitively, as emails are everywhere). */
  lastTo(address: string): SentMail | undefined {
    const wanted = address.toLowerCase();
    return this.messages.findLast((m) => m.to.toLowerCase() === wanted);
  }
}
