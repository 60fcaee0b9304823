/**
 * Place one simulated Twilio call against a running service and print the transcript.
 *
 *   npm run simulate -- --from +12025550123 --to +12025550100 --digits 1,2 \
 *     [--dial no-answer,completed] [--whisper 1] [--recording 20] [--hangup-after 3] \
 *     [--url http://127.0.0.1:3000] [--public-url https://ahl.example.test] \
 *     [--incoming-path /twilio/voice/incoming] [--status-path /twilio/voice/status] [--json]
 *
 * Reads PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID and PORT with the service's own
 * development defaults. Exits 1 when the call produced errors, 2 on bad arguments.
 */
import { DEV_DEFAULTS, publicBaseUrlFor } from '../src/dev-defaults.js';
import { CallSimulator, type DialOutcome, type DialStatus, type RecordingOutcome } from '../devtools/simulator/simulator.js';
import { formatTranscript } from '../devtools/simulator/transcript.js';
import { cliArgs } from './cli-support.js';

const DIAL_STATUSES: readonly DialStatus[] = ['completed', 'answered', 'no-answer', 'busy', 'failed', 'canceled'];

const USAGE = `usage: npm run simulate -- [--from <E.164, default the demo patient>] [--to <E.164, default the demo practice>] [--digits 1,2,-] [--dial no-answer,completed]
  [--whisper 1,-] [--recording <seconds>[:<finish key>]] [--hangup-after <n>] [--call-sid CA…]
  [--url <target base URL>] [--public-url <public base URL>] [--incoming-path <path>] [--status-path <path>] [--json]
  In --digits and --whisper lists, '-' means the party presses nothing (timeout).`;

class UsageError extends Error {}

function digitList(raw: string | undefined): Array<string | null> | undefined {
  if (raw === undefined) return undefined;
  return raw.split(',').map((entry) => {
    const keys = entry.trim();
    if (keys === '-' || keys === '') return null;
    if (!/^[0-9*#]+$/.test(keys)) throw new UsageError(`"${keys}" is not a sequence of keypad keys`);
    return keys;
  });
}

function integer(raw: string, what: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${what} must be a whole number, got "${raw}"`);
  return Number(raw);
}

async function main(): Promise<number> {
  const { values } = cliArgs(USAGE, {
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      digits: { type: 'string' },
      dial: { type: 'string' },
      whisper: { type: 'string' },
      recording: { type: 'string', multiple: true },
      'hangup-after': { type: 'string' },
      'call-sid': { type: 'string' },
      url: { type: 'string' },
      'public-url': { type: 'string' },
      'incoming-path': { type: 'string' },
      'status-path': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const from = values.from ?? DEV_DEFAULTS.demoCallerNumber;
  const to = values.to ?? DEV_DEFAULTS.demoPracticeNumber;
  for (const number of [from, to]) {
    if (!/^\+[1-9]\d{1,14}$/.test(number)) throw new UsageError(`"${number}" is not an E.164 number`);
  }

  // The service's own rules (src/config.ts): an empty variable counts as unset.
  const env = (name: string): string | undefined => (process.env[name] === '' ? undefined : process.env[name]);
  const portVar = env('PORT');
  const port = portVar !== undefined ? integer(portVar, 'PORT') : DEV_DEFAULTS.port;
  const targetBaseUrl = values.url ?? `http://127.0.0.1:${port}`;
  const publicBaseUrl = values['public-url'] ?? publicBaseUrlFor(env('PUBLIC_BASE_URL'), port);
  const authToken = env('TWILIO_AUTH_TOKEN') ?? DEV_DEFAULTS.twilioAuthToken;
  const accountSid = env('TWILIO_ACCOUNT_SID') ?? DEV_DEFAULTS.twilioAccountSid;

  const whisperDigits = digitList(values.whisper);
  const dialOutcomes: DialOutcome[] | undefined = values.dial?.split(',').map((raw) => {
    const status = raw.trim() as DialStatus;
    if (!DIAL_STATUSES.includes(status)) throw new UsageError(`--dial "${raw}" is not one of ${DIAL_STATUSES.join(', ')}`);
    const outcome: DialOutcome = { status };
    if (whisperDigits !== undefined) outcome.whisperDigits = whisperDigits;
    return outcome;
  });
  const recordings: RecordingOutcome[] | undefined = values.recording?.map((raw) => {
    const [seconds = '', key] = raw.split(':');
    if (seconds === 'absent') return { status: 'absent' };
    const outcome: RecordingOutcome = { durationSeconds: integer(seconds, '--recording seconds') };
    if (key !== undefined) outcome.digits = key;
    return outcome;
  });

  const simulator = new CallSimulator({ targetBaseUrl, publicBaseUrl, authToken, accountSid });
  const digits = digitList(values.digits);
  const result = await simulator.placeCall({
    from,
    to,
    ...(digits !== undefined ? { digits } : {}),
    ...(dialOutcomes !== undefined ? { dialOutcomes } : {}),
    ...(recordings !== undefined ? { recordings } : {}),
    ...(values['hangup-after'] !== undefined ? { hangupAfterSteps: integer(values['hangup-after'], '--hangup-after') } : {}),
    ...(values['call-sid'] !== undefined ? { callSid: values['call-sid'] } : {}),
    ...(values['incoming-path'] !== undefined ? { incomingPath: values['incoming-path'] } : {}),
    ...(values['status-path'] !== undefined ? { statusPath: values['status-path'] } : {}),
  });

  console.log(values.json ? JSON.stringify(result, null, 2) : formatTranscript(result));
  return result.errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) {
      console.error(`simulate: ${error.message}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    console.error(error);
    process.exitCode = 1;
  },
);
