/**
 * Bundled in place of `@aws-sdk/client-sesv2` into every function whose spec does not declare
 * `mail` (infra/function.ts). The runtime module names the SES client for all functions, but only
 * the mail functions may send (they alone get MAIL_FROM and the grant); this keeps the client's
 * ~60 kB out of the other bundles, and a send from one of them fails with a message saying why.
 */
const absent = (): never => {
  throw new Error('This function does not send mail: its FunctionSpec declares mail: false');
};

export class SESv2Client {
  constructor(_config?: unknown) {
    absent();
  }
}

export class SendEmailCommand {
  constructor(_input?: unknown) {
    absent();
  }
}
