import { SMTPServer } from 'smtp-server';

/**
 * The mail relay tests send to: smtp-server on loopback (no TLS, no authentication), keeping
 * every message it accepts, so a test reads an invitation link or a morning summary from what
 * was really sent rather than from the API's answer. One per test file; start it before the
 * harness and pass `env` into it.
 */

export interface SmtpCapture {
  /** Every message accepted, in order, whole (headers and body), its quoted-printable undone. */
  readonly mails: string[];
  /** SMTP_URL and SMTP_FROM for the harness. */
  readonly env: { SMTP_URL: string; SMTP_FROM: string };
  /**
   * Holds each message's acceptance (the relay's final answer) until `release`: a slow relay,
   * for proving that an answer does not wait for the e-mail. The message is in `mails` at once
   * all the same.
   */
  hold(): void;
  /** Ends a hold (the held messages are accepted); nothing when none. */
  release(): void;
  /** Releases any hold, then stops the server. */
  close(): Promise<void>;
}

/**
 * Mail bodies arrive quoted-printable: lines longer than 76 characters broken with a trailing
 * '=' and '=' itself written '=3D', which would split an invitation link or a URL's query.
 * Only those two are undone; the tests look for ASCII text.
 */
export function undoQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
}

export async function startSmtpCapture(from = 'after-hours@example.org'): Promise<SmtpCapture> {
  const mails: string[] = [];
  let held: Promise<void> | null = null;
  let release: () => void = () => undefined;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push(undoQuotedPrintable(Buffer.concat(chunks).toString('utf8')));
        void (held ?? Promise.resolve()).then(() => done());
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return {
    mails,
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, SMTP_FROM: from },
    hold() {
      held = new Promise<void>((resolve) => {
        release = () => {
          held = null;
          resolve();
        };
      });
    },
    release() {
      release();
    },
    async close() {
      release();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
