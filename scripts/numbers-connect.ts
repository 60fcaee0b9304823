import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { createTwilioNumbers } from '../src/adapters/twilio-numbers.js';
import { loadFlows } from '../src/calls/flow-loader.js';
import { connectLine, LINE_KINDS, type LineKind } from '../src/practices/lines.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { E164Schema } from '../src/practices/settings.js';
import { cliArgs, cliConfig, cliDb, cliPractice, fail, printDifferences } from './cli-support.js';

const USAGE = `usage: npm run numbers:connect -- --practice <id or slug> --number <E.164> --kind ${LINE_KINDS.join('|')} [--flow <flow id>] [--assign]
  Makes the number a line of the practice and configures it at Twilio (voice URL, voice fallback URL,
  status callback, SMS URL, all under PUBLIC_BASE_URL), then reads it back and reports any difference.
  --kind    main: callers, runs a call flow; access: the provider access line; drop_callback: drops' call-back and opt-out line
  --flow    the flow a main line runs (default: the one it runs, or after-hours)
  --assign  the number is not the practice's yet: assign it (audited); a number of another practice is refused
  Exit 0: connected as configured; 1: Twilio holds something else, or refused; 2: bad arguments.`;

const { values } = cliArgs(USAGE, {
  options: {
    practice: { type: 'string' },
    number: { type: 'string' },
    kind: { type: 'string' },
    flow: { type: 'string' },
    assign: { type: 'boolean' },
  },
});

if (!values.practice) fail('--practice: expected a practice id (UUID) or slug, such as demo');
const number = E164Schema.safeParse(values.number ?? '');
if (!number.success) fail('--number: expected an E.164 number such as +12025550100');
const kind = values.kind;
if (!kind || !(LINE_KINDS as readonly string[]).includes(kind)) fail(`--kind: expected one of ${LINE_KINDS.join(', ')}`);
if (values.flow !== undefined && kind !== 'main') fail('--flow: only a main line runs a flow of its choosing');

const config = cliConfig();
const db = cliDb(config);
try {
  const practice = await cliPractice(db, config, values.practice);
  if (values.flow !== undefined) {
    const flows = await loadFlows(config.callflowsDir, { audioDir: config.audioDir });
    if (!flows.has(values.flow)) fail(`--flow: no flow "${values.flow}"; known: ${[...flows.keys()].join(', ')}`);
  }
  const outcome = await connectLine(
    { scope: systemScope({ db }, practice.id), numbers: createTwilioNumbers(config), publicBaseUrl: config.publicBaseUrl },
    { e164: number.data, kind: kind as LineKind, assign: values.assign === true, ...(values.flow !== undefined ? { flowId: values.flow } : {}) },
  );
  if (!outcome.ok) {
    const why = {
      no_practice: 'the practice is gone',
      taken: 'that number belongs to another practice',
      not_registered: 'that number is not one of the practice\'s: add --assign to assign it',
      not_in_account: 'the Twilio account has no such number: buy or port it into the account first',
      twilio_not_configured: 'no Twilio account is configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)',
      twilio_error: outcome.reason === 'twilio_error' ? outcome.error.message : '',
    }[outcome.reason];
    process.stderr.write(`numbers:connect: ${why}\n`);
    process.exitCode = 1;
  } else {
    const line = outcome.line;
    if (line.change === 'created') {
      await appendAudit(db, { action: AuditAction.AdminLineAssigned, actor: 'cli:numbers-connect', practiceId: practice.id, subjectId: practice.id, details: { number: line.e164, via: 'cli' } });
    }
    await appendAudit(db, {
      action: AuditAction.AdminLineConnected,
      actor: 'cli:numbers-connect',
      practiceId: practice.id,
      subjectId: practice.id,
      details: { number: line.e164, kind: line.kind, flowId: line.flowId, change: line.change, differences: line.differences.map((d) => d.field), via: 'cli' },
    });
    process.stdout.write(`Connected ${line.e164} as the ${line.kind} line of ${practice.name}${line.kind === 'access' ? '' : ` (flow ${line.flowId})`}, Twilio ${line.twilioSid}.\n`);
    for (const [name, url] of Object.entries(line.configured)) process.stdout.write(`  ${name.padEnd(17)} ${url}\n`);
    if (line.differences.length > 0) {
      process.stdout.write('Twilio reads back differently:\n');
      printDifferences(line.differences);
      process.exitCode = 1;
    }
  }
} finally {
  await db.destroy();
}
