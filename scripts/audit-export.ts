import { csvHeader, iterateAudit, toCsvLine, toJsonLine } from '../src/audit/store.js';
import { SYSTEM_CHAIN } from '../src/audit/events.js';
import { cliArgs, cliConfig, cliDb, cliPractice, fail } from './cli-support.js';

const USAGE = `usage: npm run audit:export -- [--from <ISO date>] [--to <ISO date>] [--format csv|jsonl] [--practice <id|slug|system>]
  Writes a range of the audit log to standard output (default jsonl): one practice's chain, the system chain, or all.`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const { values } = cliArgs(USAGE, {
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string', default: 'jsonl' },
    practice: { type: 'string' },
  },
});

function date(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) fail(`--${name}: expected an ISO date or date-time, such as 2026-11-01 or 2026-11-01T00:00:00Z`);
  return d;
}

const format = values.format;
if (format !== 'csv' && format !== 'jsonl') fail('--format: expected csv or jsonl');
const from = date('from', values.from);
const to = date('to', values.to);

// `npm run audit:export ... | head`: once the reader has gone, stop quietly (exit 0, no stack).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  process.stderr.write(`audit:export: cannot write the export (${err.code ?? err.name})\n`);
  process.exit(1);
});

const config = cliConfig();
const db = cliDb(config);
try {
  // --practice <id|slug>: that practice's chain (by id also of a practice since removed; not the
  // legacy rows that name it, which belong to the legacy chain); --practice system: the system chain; neither: every chain.
  const ref = values.practice;
  const chain =
    ref === undefined ? undefined : ref === SYSTEM_CHAIN ? SYSTEM_CHAIN : UUID.test(ref.toLowerCase()) ? ref.toLowerCase() : (await cliPractice(db, config, ref)).id;
  const scope = chain === undefined ? {} : { chain };
  if (format === 'csv') process.stdout.write(`${csvHeader()}\n`);
  for await (const rec of iterateAudit(db, { ...(from ? { from } : {}), ...(to ? { to } : {}), ...scope })) {
    const line = format === 'csv' ? toCsvLine(rec) : toJsonLine(rec);
    if (!process.stdout.write(`${line}\n`)) await new Promise((r) => process.stdout.once('drain', r));
  }
} finally {
  await db.destroy();
}
