import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import { systemScope } from '../tenancy/system-scope.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { Keyring } from '../adapters/keyring.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import type { AuditWriter } from '../audit/store.js';
import { recordDisclosure } from '../consent/store.js';
import { DEV_DEFAULTS } from '../dev-defaults.js';
import { createPolicy, createProvider, createSchedule, type StoreResult as OnCallResult } from '../oncall/store.js';
import { createPatient } from '../patients/store.js';
import { createAppointment } from '../patients/appointments.js';
import { assignLine } from './lines-store.js';
import { flowForKind } from './lines.js';
import { createPracticeWithDefaults } from './onboarding.js';
import { getPractice, updatePractice, type Practice } from './store.js';

/** The demo practice of the README. 555-01xx numbers are reserved for fiction. */
export const DEMO = {
  slug: 'demo',
  name: 'Demo Family Medicine',
  number: DEV_DEFAULTS.demoPracticeNumber,
  timeZone: 'America/New_York',
  fallbackNumber: '+12025550199',
  frontDeskNumber: '+12025550101',
  /** The drop callback line (flow drop-callback): voicemail drops come from it; key 8 opts out. */
  dropCallbackNumber: '+12025550102',
  /** The provider access line (its Twilio voice URL is /twilio/voice/access): PIN, then urgent voicemails. */
  accessNumber: '+12025550103',
  /** The ringless-voicemail consent disclosure a grant must name. */
  rvmDisclosure: {
    version: 'rvm-2026-11',
    text: 'I agree that Demo Family Medicine may leave prerecorded voicemail messages, including ringless voicemail, at this number about appointments, recalls, office closures and my account. These messages are general and do not include medical details. I can stop them at any time by texting STOP or calling back and pressing 8. Consent is not a condition of care.',
  },
  patient: { phone: DEV_DEFAULTS.demoCallerNumber, firstName: 'Avery', lastName: 'Example', dateOfBirth: '1980-04-15', pin: '2468', usState: 'DC' },
  providers: [
    { displayName: 'Dr. Morgan Primary', phone: '+12025550111', isPracticeAdmin: false },
    { displayName: 'Dr. Riley Backup', phone: '+12025550112', isPracticeAdmin: false },
    { displayName: 'Jordan Manager', phone: '+12025550113', isPracticeAdmin: true },
  ],
} as const;

/**
 * The demo on-call set-up, as an admin builds it (the on-call store's functions behind
 * `POST /api/oncall/providers`, `…/schedules`, `…/policies`): a daily rotation of the two doctors
 * (hand-off 08:00 New York), escalating to the backup doctor, the whole chain tried twice, then
 * urgent voicemail and pages every 10 minutes, three times.
 */
async function seedOnCall(scope: PracticeScope): Promise<void> {
  const providers = [];
  for (const p of DEMO.providers) providers.push(await createProvider(scope, { displayName: p.displayName, phone: p.phone, isPracticeAdmin: p.isPracticeAdmin }));
  const [primary, backup] = providers;
  if (!primary || !backup) throw new Error('demo providers were not created');
  const schedule = succeeded(
    'schedule',
    await createSchedule(scope, {
      name: 'Doctors',
      timeZone: DEMO.timeZone,
      rotation: { members: [primary.id, backup.id], length: 'daily', handoffTime: '08:00', startDate: '2026-01-01' },
    }),
  );
  succeeded(
    'escalation policy',
    await createPolicy(scope, {
      name: 'Urgent calls',
      tiers: [
        { target: { kind: 'schedule', scheduleId: schedule.id }, ringSeconds: 20 },
        { target: { kind: 'provider', providerId: backup.id }, ringSeconds: 20 },
      ],
      repeat: 1,
      pageIntervalMinutes: 10,
      pageMaxRepeats: 3,
      isDefault: true,
    }),
  );
}

/** The seed's own data is fixed: a store refusing it is a bug, and fails (and so rolls back) the seed. */
function succeeded<T>(what: string, result: OnCallResult<T>): T {
  if (result.ok) return result.value;
  throw new Error(`the demo ${what} was refused: ${result.reason === 'invalid' ? result.message : result.reason}`);
}

/**
 * The demo practice moves in as any practice does (docs: README "Moving a practice in"), through
 * the same functions, short of Twilio: created with the defaults (`createPracticeWithDefaults`,
 * behind `POST /api/practices`), its settings (`updatePractice`), its drop callback and access
 * lines (`assignLine`, the record `numbers:connect` makes; the demo numbers are fiction, so nothing
 * is configured at Twilio), its patient and appointment (the patients and appointments stores the
 * imports write through), its on-call set-up and its consent disclosure.
 */
async function seedPractice(trx: Db, keyring: Keyring, audit: AuditWriter, now: Date): Promise<{ practiceId: string; patientId: string }> {
  const created = await createPracticeWithDefaults(trx, { slug: DEMO.slug, name: DEMO.name, timeZone: DEMO.timeZone, number: DEMO.number, fallbackNumber: DEMO.fallbackNumber });
  if (!created.ok) throw new Error(`the demo practice was refused: ${created.reason}`);
  const practiceId = created.practice.id;
  const scope = systemScope({ db: trx }, practiceId);
  await updatePractice(scope, { frontDeskNumber: DEMO.frontDeskNumber, languages: ['en', 'es'] });
  const patientId = await createPatient(trx, keyring, { practiceId, ...DEMO.patient });
  // Three days from now at 15:30 UTC (10:30 or 11:30 in New York): something to hear once verified.
  const startsAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 3, 15, 30));
  await createAppointment(trx, { practiceId, patientId, startsAt });
  await seedOnCall(scope);
  for (const line of [
    { e164: DEMO.dropCallbackNumber, flowId: flowForKind('drop_callback', null, undefined), access: false },
    { e164: DEMO.accessNumber, flowId: flowForKind('access', null, undefined), access: true },
  ]) {
    const assigned = await assignLine(scope, { ...line, claim: true });
    if (assigned.result !== 'created') throw new Error(`the demo line was refused: ${assigned.result}`);
  }
  const disclosure = await recordDisclosure(scope, audit, { ...DEMO.rvmDisclosure, channel: 'rvm' }, SEED_ACTOR);
  if (!disclosure.ok) throw new Error(`the demo consent disclosure was refused: ${disclosure.reason}`);
  return { practiceId, patientId };
}

const SEED_ACTOR = 'system:seed';

/**
 * Seeds the demo practice and its test patient, only into an empty database. All of it is one
 * transaction (a failure leaves the database empty, so the next start seeds again), taken under
 * a transaction-scoped advisory lock with the emptiness check inside it: instances starting
 * together on an empty database seed it once, and the others find it seeded and go on.
 * The audit events follow the commit (the audit writer keeps its own transaction and lock), so
 * the events of the store functions are held until then.
 */
export async function seedDemoIfEmpty(db: Db, keyring: Keyring, audit: AuditWriter, now: Date = new Date()): Promise<Practice | null> {
  const held: AuditEvent[] = [];
  const holdAudit: AuditWriter = (event) => {
    held.push(...(Array.isArray(event) ? event : [event]));
    return Promise.resolve();
  };
  const seeded = await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.demo_seed'))`.execute(trx);
    const existing = await trx.selectFrom('practices').select('id').limit(1).executeTakeFirst();
    if (existing) return null;
    return seedPractice(trx, keyring, holdAudit, now);
  });
  if (!seeded) return null;
  await audit([
    {
      action: AuditAction.AdminPracticeSeeded,
      actor: SEED_ACTOR,
      practiceId: seeded.practiceId,
      subjectId: seeded.practiceId,
      details: { patients: 1, patientIds: [seeded.patientId] },
    },
    ...held,
  ]);
  const practice = await getPractice(systemScope({ db }, seeded.practiceId));
  if (!practice) throw new Error('the demo practice vanished after it was seeded');
  return practice;
}
