/**
 * Campaigns from the command line, through the admin API of a running service:
 *
 *   npm run campaign -- list
 *   npm run campaign -- templates
 *   npm run campaign -- create --name "December recall" --template recall --provider rvm_http [--csv recipients.csv] [--rate 30] [--human-answer message|hangup] [--audio-file name.wav] [--channel rvm|sms]
 *   npm run campaign -- recipients <id> --csv recipients.csv
 *   npm run campaign -- dry-run <id>
 *   npm run campaign -- start|pause|resume|cancel <id>
 *   npm run campaign -- watch <id>        (a progress bar until every recipient has a final state)
 *
 * The key comes from AHL_API_KEY (an admin key from `npm run keys:create`), the service from
 * AHL_URL (default http://127.0.0.1:$PORT). The key is never printed.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { cliArgs, fail, usageExit } from './cli-support.js';
import { progressLine } from '../src/drops/progress.js';
import { parseRecipientCsv } from '../src/drops/campaigns.js';

const USAGE = `usage: npm run campaign -- <list|templates|create|recipients|dry-run|start|pause|resume|cancel|watch> [id] [options]
  create      --name <text> --template <id> --provider rvm_http|twilio [--csv file] [--rate per-minute] [--human-answer message|hangup] [--audio-file name.wav] [--channel rvm|sms (sms: provider twilio, an sms-… template)]
  recipients  <id> --csv <file with a patient_id column, optionally appointment_id>
  watch       <id> [--interval seconds]
environment: AHL_API_KEY (required), AHL_URL (default http://127.0.0.1:$PORT or :3000)`;

const { values, positionals } = cliArgs(USAGE, {
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    template: { type: 'string' },
    provider: { type: 'string' },
    csv: { type: 'string' },
    rate: { type: 'string' },
    'human-answer': { type: 'string' },
    'audio-file': { type: 'string' },
    channel: { type: 'string' },
    interval: { type: 'string' },
  },
});

const [command, id] = positionals;
if (!command) usageExit(USAGE, 'expected a command');
const key = process.env['AHL_API_KEY'];
if (!key) fail('AHL_API_KEY: expected an API key (npm run keys:create -- --role admin --practice demo)');
const base = (process.env['AHL_URL'] ?? `http://127.0.0.1:${process.env['PORT'] ?? '3000'}`).replace(/\/+$/, '');

type Reply = { ok: true; json: Record<string, unknown> } | { ok: false; problem: string };

/** One request to the service; a refusal or an unreachable service is returned, not fatal. */
async function request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  } catch {
    return { ok: false, problem: `cannot reach the service at ${base} (is it running? set AHL_URL)` };
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) return { ok: false, problem: `${method} ${path}: ${res.status} ${typeof json.message === 'string' ? json.message : String(json.error ?? '')}` };
  return { ok: true, json };
}

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Record<string, unknown>> {
  const r = await request(method, path, body, contentType);
  if (!r.ok) fail(r.problem);
  return r.json;
}

function needId(): string {
  if (!id || !/^[0-9a-f-]{36}$/i.test(id)) fail(`${command}: expected a campaign id (UUID)\n${USAGE}`);
  return id;
}

async function main(): Promise<void> {
  switch (command) {
    case 'list': {
      const { campaigns } = (await call('GET', '/api/campaigns')) as { campaigns: Array<Record<string, string>> };
      for (const c of campaigns) console.log(`${c.id}  ${String(c.state).padEnd(9)} ${String(c.provider).padEnd(8)} ${c.name}`);
      return;
    }
    case 'templates': {
      const { templates } = (await call('GET', '/api/drop-templates')) as { templates: Array<Record<string, unknown>> };
      for (const t of templates) console.log(`${String(t.id).padEnd(36)} ${String(t.purpose).padEnd(20)} ${t.builtIn ? 'built-in' : 'practice'}\n    ${String(t.text)}`);
      return;
    }
    case 'create': {
      if (!values.name || !values.template || !values.provider) fail(`create: --name, --template and --provider are required\n${USAGE}`);
      // The file is read and checked before anything is created; its rows then go as text/csv to the
      // recipients route (row-by-row report, 16 MB), not as JSON in the create (256 kB, no report).
      const file = values.csv;
      const csv = file === undefined ? undefined : await readCsv(file);
      const created = await call('POST', '/api/campaigns', {
        name: values.name,
        templateId: values.template,
        provider: values.provider,
        ...(values.rate ? { ratePerMinute: Number(values.rate) } : {}),
        ...(values['human-answer'] ? { humanAnswer: values['human-answer'] } : {}),
        ...(values['audio-file'] ? { audioFile: values['audio-file'] } : {}),
        ...(values.channel ? { channel: values.channel } : {}),
      });
      const campaignId = String(created.id);
      console.log(`created campaign ${campaignId} (${String(created.seconds)} s message):\n  ${String(created.text)}`);
      for (const n of (created.notices as string[] | undefined) ?? []) console.log(`note: ${n}`);
      if (file === undefined || csv === undefined) {
        console.log(`no recipients yet: npm run campaign -- recipients ${campaignId} --csv <file> (start refuses an empty campaign)`);
        return;
      }
      const added = await request('POST', `/api/campaigns/${campaignId}/recipients`, csv, 'text/csv');
      if (!added.ok) {
        fail(
          `recipients were not added: ${added.problem}\n` +
            `campaign ${campaignId} was created without them; start refuses it (409) until they are added:\n` +
            `  npm run campaign -- recipients ${campaignId} --csv ${file}`,
        );
      }
      printReport(added.json);
      return;
    }
    case 'recipients': {
      if (!values.csv) fail('recipients: --csv <file> is required');
      await addCsv(needId(), values.csv);
      return;
    }
    case 'dry-run': {
      console.log(JSON.stringify(await call('POST', `/api/campaigns/${needId()}/dry-run`), null, 2));
      return;
    }
    case 'start':
    case 'pause':
    case 'resume':
    case 'cancel': {
      const r = await call('POST', `/api/campaigns/${needId()}/${command}`);
      console.log(`${command}: now ${String(r.state)}${r.queued !== undefined ? `, ${String(r.queued)} queued, ${String(r.skipped)} skipped` : ''}`);
      for (const n of (r.notices as string[] | undefined) ?? []) console.log(`note: ${n}`);
      return;
    }
    case 'watch': {
      const campaignId = needId();
      const every = Math.max(1, Number(values.interval ?? '2')) * 1000;
      const tty = process.stdout.isTTY;
      for (;;) {
        const p = (await call('GET', `/api/campaigns/${campaignId}`)) as { total: number; done: number; counts: Record<string, number>; campaign: { state: string }; nextSendAt: string | null };
        const line = progressLine(p) + (p.nextSendAt ? `  next ${p.nextSendAt}` : '');
        process.stdout.write(tty ? `\r${line.padEnd(process.stdout.columns ? process.stdout.columns - 1 : 120)}` : `${line}\n`);
        if (p.done >= p.total || ['completed', 'cancelled'].includes(p.campaign.state)) break;
        await new Promise((r) => setTimeout(r, every));
      }
      if (tty) process.stdout.write('\n');
      return;
    }
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

/** The recipients route's answer: counts by result, and the rows that were not added. */
const RecipientReport = z.object({
  added: z.number(),
  summary: z.record(z.string(), z.number()),
  rows: z.array(z.object({ row: z.number(), result: z.string(), message: z.string().optional() })),
});

/**
 * The text of a CSV file with a patient_id column, checked here (readable, the header, at most
 * 200,000 rows) so that a file the service would refuse whole creates no campaign. Rows that are
 * not ids are the service's to report, row by row.
 */
async function readCsv(file: string): Promise<string> {
  let csv: string;
  try {
    csv = await readFile(file, 'utf8');
  } catch {
    fail(`--csv: cannot read ${file}`);
  }
  const parsed = parseRecipientCsv(csv);
  if (!parsed.ok) fail(`--csv: ${parsed.message}`);
  return csv;
}

function printReport(json: Record<string, unknown>): void {
  const parsed = RecipientReport.safeParse(json);
  if (!parsed.success) fail('recipients: the service answered with no row-by-row report');
  const r = parsed.data;
  console.log(`recipients: ${Object.entries(r.summary).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  for (const row of r.rows.slice(0, 50)) console.log(`  row ${row.row}: ${row.result}${row.message ? ` (${row.message})` : ''}`);
  if (r.rows.length > 50) console.log(`  … and ${r.rows.length - 50} more rows not added`);
}

async function addCsv(campaignId: string, file: string): Promise<void> {
  const csv = await readCsv(file);
  printReport(await call('POST', `/api/campaigns/${campaignId}/recipients`, csv, 'text/csv'));
}

await main();
