import type { Db } from '../adapters/postgres.js';
import type { Keyring } from '../adapters/keyring.js';
import { AuditAction } from '../audit/events.js';
import type { AuditWriter } from '../audit/store.js';
import { DEV_DEFAULTS } from '../simulator/defaults.js';
import { createPatient } from '../patients/store.js';
import { createAppointment } from '../patients/appointments.js';
import { createPractice, type Practice } from './store.js';

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

/** Seeds the demo practice and its test patient, only into an empty database. */
export async function seedDemoIfEmpty(db: Db, keyring: Keyring, audit: AuditWriter, now: Date = new Date()): Promise<Practice | null> {
  const existing = await db.selectFrom('practices').select('id').limit(1).executeTakeFirst();
  if (existing) return null;
  const practice = await createPractice(db, {
    slug: DEMO.slug,
    name: DEMO.name,
    timeZone: DEMO.timeZone,
    fallbackNumber: DEMO.fallbackNumber,
    frontDeskNumber: DEMO.frontDeskNumber,
    languages: ['en', 'es'],
    numbers: [DEMO.number],
  });
  const patientId = await createPatient(db, keyring, { practiceId: practice.id, ...DEMO.patient });
  // Three days from now at 15:30 UTC (10:30 or 11:30 in New York): something to hear once verified.
  const startsAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 3, 15, 30));
  await createAppointment(db, { practiceId: practice.id, patientId, startsAt });
  await seedOnCall(db, practice.id);
  await db.insertInto('practice_numbers').values({ e164: DEMO.dropCallbackNumber, practice_id: practice.id, flow_id: 'drop-callback' }).execute();
  await db
    .insertInto('consent_disclosures')
    .values({ practice_id: practice.id, version: DEMO.rvmDisclosure.version, channel: 'rvm', text: DEMO.rvmDisclosure.text, recorded_by: 'system:seed' })
    .execute();
  await audit({
    action: AuditAction.AdminPracticeSeeded,
    actor: 'system:seed',
    practiceId: practice.id,
    subjectId: practice.id,
    details: { patients: 1, patientIds: [patientId] },
  });
  return practice;
}
