import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import { systemScope } from '../tenancy/system-scope.js';
import type { Keyring } from '../adapters/keyring.js';
import { AuditAction } from '../audit/events.js';
import type { AuditWriter } from '../audit/store.js';
import { DEV_DEFAULTS } from '../dev-defaults.js';
import { createPatient } from '../patients/store.js';
import { createAppointment } from '../patients/appointments.js';
import { getPractice, type Practice } from './store.js';

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
 * The demo on-call set-up: a daily rotation of the two doctors (hand-off 08:00 New York),
 * escalating to the backup doctor, the whole chain tried twice, then urgent voicemail and pages.
 */
async function seedOnCall(db: Db, practiceId: string): Promise<void> {
  const providers = await db
    .insertInto('providers')
    .values(DEMO.providers.map((p) => ({ practice_id: practiceId, display_name: p.displayName, phone: p.phone, is_practice_admin: p.isPracticeAdmin })))
    .returning(['id', 'display_name'])
    .execute();
  const [primary, backup] = providers;
  if (!primary || !backup) throw new Error('demo providers were not created');
  const schedule = await db
    .insertInto('oncall_schedules')
    .values({
      practice_id: practiceId,
      name: 'Doctors',
      time_zone: DEMO.timeZone,
      rotation: JSON.stringify({ members: [primary.id, backup.id], length: 'daily', handoffTime: '08:00', startDate: '2026-01-01' }),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db
    .insertInto('escalation_policies')
    .values({
      practice_id: practiceId,
      name: 'Urgent calls',
      tiers: JSON.stringify([
        { target: { kind: 'schedule', scheduleId: schedule.id }, ringSeconds: 20 },
        { target: { kind: 'provider', providerId: backup.id }, ringSeconds: 20 },
      ]),
      repeat: 1,
      page_interval_seconds: 600,
      page_max_repeats: 3,
      is_default: true,
    })
    .execute();
}

/**
 * Seeds the demo practice and its test patient, only into an empty database. All of it is one
 * transaction (a failure leaves the database empty, so the next start seeds again), taken under
 * a transaction-scoped advisory lock with the emptiness check inside it: instances starting
 * together on an empty database seed it once, and the others find it seeded and go on.
 * The audit event follows the commit (the audit writer keeps its own transaction and lock).
 */
export async function seedDemoIfEmpty(db: Db, keyring: Keyring, audit: AuditWriter, now: Date = new Date()): Promise<Practice | null> {
  const seeded = await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.demo_seed'))`.execute(trx);
    const existing = await trx.selectFrom('practices').select('id').limit(1).executeTakeFirst();
    if (existing) return null;
    const practice = await trx
      .insertInto('practices')
      .values({
        slug: DEMO.slug,
        name: DEMO.name,
        time_zone: DEMO.timeZone,
        fallback_number: DEMO.fallbackNumber,
        front_desk_number: DEMO.frontDeskNumber,
        languages: ['en', 'es'],
        access_number: DEMO.accessNumber,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx.insertInto('practice_numbers').values({ e164: DEMO.number, practice_id: practice.id }).execute();
    const patientId = await createPatient(trx, keyring, { practiceId: practice.id, ...DEMO.patient });
    // Three days from now at 15:30 UTC (10:30 or 11:30 in New York): something to hear once verified.
    const startsAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 3, 15, 30));
    await createAppointment(trx, { practiceId: practice.id, patientId, startsAt });
    await seedOnCall(trx, practice.id);
    await trx.insertInto('practice_numbers').values({ e164: DEMO.dropCallbackNumber, practice_id: practice.id, flow_id: 'drop-callback' }).execute();
    await trx.insertInto('practice_numbers').values({ e164: DEMO.accessNumber, practice_id: practice.id }).execute();
    await trx
      .insertInto('consent_disclosures')
      .values({ practice_id: practice.id, version: DEMO.rvmDisclosure.version, channel: 'rvm', text: DEMO.rvmDisclosure.text, recorded_by: 'system:seed' })
      .execute();
    return { practiceId: practice.id, patientId };
  });
  if (!seeded) return null;
  await audit({
    action: AuditAction.AdminPracticeSeeded,
    actor: 'system:seed',
    practiceId: seeded.practiceId,
    subjectId: seeded.practiceId,
    details: { patients: 1, patientIds: [seeded.patientId] },
  });
  const practice = await getPractice(systemScope({ db }, seeded.practiceId));
  if (!practice) throw new Error('the demo practice vanished after it was seeded');
  return practice;
}
