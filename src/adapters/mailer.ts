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
export interface Mailer {
  send(message: { to: string; subject: string; text: string }): Promise<void>;
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
      send: async ({ to, subject, text }) => {
        await transport.sendMail({ from: smtp.from, to, subject, text });
      },
    };
  }
  built.set(config, mailer);
  return mailer;
}
