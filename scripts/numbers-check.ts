import { createTwilioNumbers } from '../src/adapters/twilio-numbers.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { checkLines } from '../src/practices/lines.js';
import { cliArgs, cliConfig, cliDb, cliPractice, printDifferences } from './cli-support.js';

const USAGE = `usage: npm run numbers:check -- [--practice <id or slug>]
  Compares every line (of one practice, or of all) with its number's configuration at Twilio and
  reports the drift: a webhook that is not the one its line needs, or a number gone from the account.
  Exit 0: every line as it should be; 1: drift, or Twilio could not be asked.`;

const { values } = cliArgs(USAGE, { options: { practice: { type: 'string' } } });

const config = cliConfig();
const db = cliDb(config);
try {
  await migrateToLatest(db, config.database.schema);
  const practiceId = values.practice === undefined ? undefined : (await cliPractice(db, config, values.practice)).id;
  const report = await checkLines({ db, numbers: createTwilioNumbers(config), publicBaseUrl: config.publicBaseUrl }, practiceId);
  if (!report.ok) {
    process.stderr.write(`numbers:check: ${report.reason === 'twilio_error' ? report.error.message : 'no Twilio account is configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)'}\n`);
    process.exitCode = 1;
  } else {
    for (const line of report.lines) {
      const state = line.state === 'ok' ? 'OK' : line.state === 'drift' ? 'DRIFT' : 'NOT IN ACCOUNT';
      process.stdout.write(`${state.padEnd(14)} ${line.e164} ${line.kind} (practice ${line.practiceId})\n`);
      printDifferences(line.differences);
    }
    if (report.lines.length === 0) process.stdout.write('no lines\n');
    if (report.lines.some((l) => l.state !== 'ok')) process.exitCode = 1;
  }
} finally {
  await db.destroy();
}
