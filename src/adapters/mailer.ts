import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config.js';

/**
 * Outgoing e-mail through SMTP (nodemailer), for invitations and password resets and the morning
 * report's summary (sent through src/notify/staff-sender.ts): plain text, a link and counts,
 * nothing about patients. Built from SMTP_URL or SMTP_HOST… (config.ts validates
 * them); null when none is configured, and the caller shows the link to an admin instead.
 * In production TLS is required (`requireTLS`: STARTTLS must succeed, no clear-text fallback),
 * since the links are bearer tokens; SMTP_ALLOW_PLAINTEXT_LOOPBACK relaxes it for a local relay.
 */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  /**
   * Extra headers (the patient notices' `List-Unsubscribe` and `List-Unsubscribe-Post`, RFC 2369
   * and RFC 8058). Names are checked: printable ASCII without `:`, never one nodemailer builds
   * itself (From, To, Subject…); values on one line.
   */
  headers?: Readonly<Record<string, string>>;
  /** The Message-ID to use (`<id@host>`), e.g. one derived from a business key; else nodemailer's. */
  messageId?: string;
}

export interface Mailer {
  /** Resolves once the relay accepted the message, with its Message-ID. */
  send(message: OutgoingMail): Promise<{ messageId: string }>;
}

/** Headers nodemailer builds from the message itself; a caller may not set them through `headers`. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set(['from', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'sender', 'reply-to', 'content-type', 'content-transfer-encoding', 'mime-version']);

/** Pure: refuses a header a caller may not set, or one that would break the message (a newline in a value). */
export function checkHeaders(headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!-9;-~]{1,76}$/.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) throw new Error(`mail header ${JSON.stringify(name)} may not be set`);
    if (/[\r\n]/.test(value) || value.length > 998) throw new Error(`mail header ${name}: its value must be one line`);
  }
}

/** nodemailer's SMTP options for the configured server (exported for the test of `requireTLS`). */
export function transportOptions(smtp: NonNullable<Config['smtp']>): SMTPTransport.Options {
  const tls = { requireTLS: smtp.requireTls };
  if ('url' in smtp) return { url: smtp.url, ...tls };
  return { host: smtp.host, port: smtp.port, secure: smtp.secure, ...tls, ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}) };
}

const built = new WeakMap<Config, Mailer | null>();

export function mailerFor(config: Config): Mailer | null {
  if (built.has(config)) return built.get(config) ?? null;
  const smtp = config.smtp;
  let mailer: Mailer | null = null;
  if (smtp) {
    const transport: Transporter = nodemailer.createTransport(transportOptions(smtp));
    mailer = {
      send: async ({ to, subject, text, headers, messageId }) => {
        if (headers) checkHeaders(headers);
        const info = await transport.sendMail({ from: smtp.from, to, subject, text, ...(headers ? { headers: { ...headers } } : {}), ...(messageId ? { messageId } : {}) });
        return { messageId: String(info.messageId) };
      },
    };
  }
  built.set(config, mailer);
  return mailer;
}
