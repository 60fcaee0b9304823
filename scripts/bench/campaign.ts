/**
 * Bench "campaign": plans a 100,000-recipient ringless-voicemail campaign the way `start` does
 * (`planCampaign` in ../../src/drops/campaigns.ts: bulk-load consent, opt-outs, recent drops, zones
 * and states; decide every recipient; spread send times at the campaign's rate; write them in the
 * campaign schedule and queue the drops and BullMQ jobs only of those due within the dispatcher's
 * window, src/drops/dispatcher.ts; audit the exclusions), against a plain bulk insert of the
 * same 100,000 drop rows into a table of the same shape, in the same run and the same database.
 * Prints recipients/s for both and the ratio.
 *
 * The recipients are inserted in bulk with SQL (patients with a dummy encrypted number: planning
 * never decrypts it), with a realistic mix: 5% without consent, 2% revoked, 2% opted out, 3% with
 * a drop earlier today, 10% each in Chicago, Denver and Los Angeles, 5% in Florida.
 */
import { sql } from 'kysely';
import { createDb, type Db } from '../../src/adapters/postgres.js';
import { planCampaign } from '../../src/drops/campaigns.js';
import { DISPATCH_WINDOW_MS } from '../../src/drops/dispatcher.js';
import { tenantScope } from '../../src/tenancy/mint.js';
import type { Practice } from '../../src/practices/store.js';
import { throwIfAborted } from './abort.js';
import type { Scope } from './scope.js';
import { startSeededService } from './seeded-service.js';
import { fixed, formatTable } from './table.js';
import type { Bench } from './types.js';

export const RECIPIENTS = 100_000;
const CHUNK = 5_000;
/** Tuesday 2026-12-01 15:00Z: 10:00 in New York, 07:00 in Los Angeles (deferred). */
const NOW = new Date('2026-12-01T15:00:00Z');

async function seedRecipients(db: Db, practice: Practice, n: number): Promise<string> {
  await sql`
    INSERT INTO patients (practice_id, phone_index, dob_enc, phone_enc, us_state, time_zone)
    SELECT ${practice.id}::uuid, md5('bench-' || g) || md5('phone-' || g), '\\x00'::bytea, '\\x00'::bytea,
           CASE WHEN g % 20 = 0 THEN 'FL' ELSE NULL END,
           CASE g % 10 WHEN 1 THEN 'America/Chicago' WHEN 2 THEN 'America/Denver' WHEN 3 THEN 'America/Los_Angeles' ELSE NULL END
    FROM generate_series(1, ${n}) AS g
  `.execute(db);
  await sql`
    INSERT INTO consents (practice_id, patient_id, channel, action, source, disclosure_version, recorded_by, evidence_ref)
    SELECT practice_id, id, 'rvm', 'granted', 'web_form', 'rvm-2026-11', 'bench', 'bench'
    FROM (SELECT id, practice_id, row_number() OVER (ORDER BY id) AS r FROM patients WHERE practice_id = ${practice.id}::uuid AND dob_enc = '\\x00'::bytea) p
    WHERE r % 20 <> 0
  `.execute(db);
  await sql`
    INSERT INTO consents (practice_id, patient_id, channel, action, source, recorded_by)
    SELECT practice_id, id, 'rvm', 'revoked', 'verbal', 'bench'
    FROM (SELECT id, practice_id, row_number() OVER (ORDER BY id) AS r FROM patients WHERE practice_id = ${practice.id}::uuid AND dob_enc = '\\x00'::bytea) p
    WHERE r % 50 = 1
  `.execute(db);
  await sql`
    INSERT INTO opt_outs (practice_id, phone_index, source, recorded_by)
    SELECT practice_id, phone_index, 'staff', 'bench'
    FROM (SELECT phone_index, practice_id, row_number() OVER (ORDER BY id) AS r FROM patients WHERE practice_id = ${practice.id}::uuid AND dob_enc = '\\x00'::bytea) p
    WHERE r % 50 = 2
  `.execute(db);
  const earlier = await db
    .insertInto('campaigns')
    .values({ practice_id: practice.id, name: 'earlier', template_id: 'recall', provider: 'rvm_http', created_by: 'bench', state: 'completed' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`
    INSERT INTO drops (campaign_id, practice_id, patient_id, provider, status, sent_at, final_at)
    SELECT ${earlier.id}::uuid, practice_id, id, 'rvm_http', 'delivered', ${new Date(NOW.getTime() - 3_600_000)}::timestamptz, ${NOW}::timestamptz
    FROM (SELECT id, practice_id, row_number() OVER (ORDER BY id) AS r FROM patients WHERE practice_id = ${practice.id}::uuid AND dob_enc = '\\x00'::bytea) p
    WHERE r % 33 = 3
  `.execute(db);
  const campaign = await db
    .insertInto('campaigns')
    .values({ practice_id: practice.id, name: 'bench', template_id: 'recall', provider: 'rvm_http', created_by: 'bench', state: 'running', rate_per_minute: 600 })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`
    INSERT INTO drops (campaign_id, practice_id, patient_id, provider)
    SELECT ${campaign.id}::uuid, practice_id, id, 'rvm_http' FROM patients WHERE practice_id = ${practice.id}::uuid AND dob_enc = '\\x00'::bytea
  `.execute(db);
  return campaign.id;
}

/** The baseline: the same rows (campaign, practice, patient, provider, status, send time) bulk-inserted in chunks. */
async function bulkInsertBaseline(db: Db, campaignId: string): Promise<number> {
  await sql`CREATE TABLE drops_baseline (LIKE drops INCLUDING DEFAULTS)`.execute(db);
  const rows = await db.selectFrom('drops').select(['campaign_id', 'practice_id', 'patient_id', 'provider']).where('campaign_id', '=', campaignId).execute();
  const started = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += CHUNK) {
    const part = rows.slice(i, i + CHUNK);
    await sql`
      INSERT INTO drops_baseline (campaign_id, practice_id, patient_id, provider, status, scheduled_for)
      SELECT * FROM unnest(${part.map((r) => r.campaign_id)}::uuid[], ${part.map((r) => r.practice_id)}::uuid[], ${part.map((r) => r.patient_id)}::uuid[],
                           ${part.map((r) => r.provider)}::text[], ${part.map(() => 'queued')}::text[], ${part.map(() => NOW.toISOString())}::timestamptz[])
    `.execute(db);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function run(scope: Scope): Promise<string[]> {
  const { config, services, practice, schema, keyPrefix } = await startSeededService(scope, { clock: () => NOW });

  console.log(`campaign: ${RECIPIENTS.toLocaleString('en-US')} recipients; schema ${schema}, Redis prefix ${keyPrefix}`);
  const seedStarted = Date.now();
  // Seeding and the baseline run without the service's statement timeouts (bulk set-up, not the service's own work).
  const bulkDb = createDb(config.database.url, schema, 2, { statementMs: 0, queryMs: 0 });
  scope.defer('close the bulk pool', () => bulkDb.destroy());
  const campaignId = await seedRecipients(bulkDb, practice, RECIPIENTS);
  console.log(`  seeded recipients, consents, opt-outs and earlier drops in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`);
  throwIfAborted();

  const baselineSeconds = await bulkInsertBaseline(bulkDb, campaignId);
  throwIfAborted();
  const started = process.hrtime.bigint();
  const planned = await planCampaign(services, tenantScope(services, practice.id), { id: campaignId, rate_per_minute: 600, template_id: 'recall', channel: 'rvm' }, practice);
  const planSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const problems: string[] = [];
  const jobs = await services.queues.drops.getJobCounts('delayed', 'waiting');
  const jobCount = (jobs.delayed ?? 0) + (jobs.waiting ?? 0);
  if (planned.queued + planned.skipped !== RECIPIENTS) problems.push(`planned ${planned.queued + planned.skipped} of ${RECIPIENTS} recipients`);
  // Only what is due within the dispatcher's window is queued at planning; the sweep queues the rest when due.
  const dueSoon = await bulkDb
    .selectFrom('drops')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'queued')
    .where('scheduled_for', '<=', new Date(NOW.getTime() + DISPATCH_WINDOW_MS))
    .executeTakeFirstOrThrow();
  if (jobCount !== Number(dueSoon.n)) problems.push(`${jobCount} jobs queued for ${dueSoon.n} drops due within the dispatcher's window`);
  // The rest wait pending, each with its send time in the schedule.
  const waiting = await bulkDb.selectFrom('drop_schedule').select((eb) => eb.fn.countAll<string>().as('n')).where('campaign_id', '=', campaignId).executeTakeFirstOrThrow();
  if (Number(waiting.n) + Number(dueSoon.n) !== planned.queued) problems.push(`${waiting.n} scheduled and ${dueSoon.n} queued for ${planned.queued} planned`);

  const planRate = RECIPIENTS / planSeconds;
  const baseRate = RECIPIENTS / baselineSeconds;
  console.log('');
  console.log(
    formatTable([
      ['what', 'seconds', 'recipients/s'],
      ['plain bulk insert (baseline)', fixed(baselineSeconds, 2), fixed(baseRate, 0)],
      ['plan campaign', fixed(planSeconds, 2), fixed(planRate, 0)],
    ]),
  );
  console.log(`  queued ${planned.queued.toLocaleString('en-US')}, skipped ${planned.skipped.toLocaleString('en-US')} (no consent, revoked, opted out), ${jobCount.toLocaleString('en-US')} jobs queued now (due within ${DISPATCH_WINDOW_MS / 60_000} min; the dispatcher queues the rest when due)`);
  console.log(`ratio (plan / bulk insert): ${fixed(planRate / baseRate, 3)}`);
  return problems;
}

export const campaignBench: Bench = {
  name: 'campaign',
  description: 'plan a 100,000-recipient drop campaign vs a plain bulk insert of the same rows',
  run,
};
