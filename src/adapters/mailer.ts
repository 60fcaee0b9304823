import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config.js';

/**
 * Outgoing e-mail through SMTP (nodemailer), for invitations and password resets: plain text,
 * a link and nothing about patients. Built from SMTP_URL or SMTP_HOST… (config.ts validates
 * them); null when none is configured, and the caller shows the link to an admin instead.
 */
export interface Mailer {
  send(message: { to: string; subject: string; text: string }): Promise<void>;
}

const built = new WeakMap<Config, Mailer | null>();

export function mailerFor(config: Config): Mailer | null {
  if (built.has(config)) return built.get(config) ?? null;
  const smtp = config.smtp;
  let mailer: Mailer | null = null;
  if (smtp) {
    const transport: Transporter =
      'url' in smtp
        ? nodemailer.createTransport(smtp.url)
        : nodemailer.createTransport({ host: smtp.host, port: smtp.port, secure: smtp.secure, ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}) });
    mailer = {
      send: async ({ to, subject, text }) => {
        await transport.sendMail({ from: smtp.from, to, subject, text });
      },
    };
  }
  built.set(config, mailer);
  return mailer;
}
