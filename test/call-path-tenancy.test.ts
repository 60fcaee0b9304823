import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCall, recordCallEvent } from '../src/calls/records.js';
import { createPatient, firstNameOf, patientIdsByPhone, phoneOf } from '../src/patients/store.js';
import { createAppointment, nextAppointment } from '../src/patients/appointments.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import type { PracticeScope } from '../src/tenancy/scope.js';
import { EMERGENCY_DISCLAIMER } from '../src/calls/fail-safe.js';
import { startHarness, DEFAULT_TEST_NOW, type Harness } from './support/harness.js';
import { inboundParams, postTwilio, randomSid } from './support/twilio-request.js';

/**
 * The Twilio webhook path acts for the practice whose number was called: once the number's
 * practice is found (the system role, across practices), its patient, appointment and
 * call-record reads and writes run in the `ahl_tenant` role, which PostgreSQL's row-level
 * security holds to that practice whatever a query says.
 */

const CALLER = '+12025550177';
let h: Harness;
let demo: string;
let other: string;
let otherPatient: string;

beforeAll(async () => {
  h = await startHarness('call_path_tenancy');
  if (!h.services.seeded) throw new Error('the demo practice was not seeded');
  demo = h.services.seeded.id;
  const row = await h.services.db
    .insertInto('practices')
    .values({ name: 'Other Practice', slug: 'other-practice', time_zone: 'America/New_York' } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  other = row.id;
  otherPatient = await createPatient(h.services.db, h.services.keyring, { practiceId: other, phone: CALLER, firstName: 'Robin', dateOfBirth: '1970-01-02' });
  await createAppointment(h.services.db, { practiceId: other, patientId: otherPatient, startsAt: new Date(DEFAULT_TEST_NOW.getTime() + 86_400_000) });
});
afterAll(async () => {
  await h?.close();
});

describe('the call path under the tenant role', () => {
  it("a scope's tenant connection shows none of another practice's patients or appointments, even to a query naming that practice", async () => {
    // The explicit practice filter says "other"; the connection is the demo practice's: row-level security decides.
    const crossed = { ...tenantScope(h.services, demo), practiceId: other } as PracticeScope;
    expect(await patientIdsByPhone(crossed, h.services.keyring, CALLER)).toEqual([]);
    expect(await nextAppointment(crossed, otherPatient, DEFAULT_TEST_NOW)).toBeNull();
    expect(await firstNameOf(crossed, h.services.keyring, otherPatient)).toBeNull();
    expect(await phoneOf(crossed, h.services.keyring, otherPatient)).toBeNull();
    // The control: the same queries in the practice's own scope find the rows.
    const own = tenantScope(h.services, other);
    expect(await patientIdsByPhone(own, h.services.keyring, CALLER)).toEqual([otherPatient]);
    expect((await nextAppointment(own, otherPatient, DEFAULT_TEST_NOW))?.startsAt).toEqual(new Date(DEFAULT_TEST_NOW.getTime() + 86_400_000));
    expect(await firstNameOf(own, h.services.keyring, otherPatient)).toBe('Robin');
    expect(await phoneOf(systemScope(h.services, other), h.services.keyring, otherPatient)).toBe(CALLER);
  });

  it("a webhook to the demo practice's number cannot write into another practice's call record", async () => {
    const callSid = randomSid('CA');
    // Another practice's call already holds this SID (as the system role would record it).
    await recordCallEvent(
      h.services.db,
      { callSid, practiceId: other, direction: 'inbound', fromIndex: null, toNumber: null, status: 'ringing', key: 'status:ringing:0', source: 'status-callback' },
      DEFAULT_TEST_NOW,
    );
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ CallSid: callSid, From: CALLER }));
    // In the system role the upsert would have appended this webhook to the other practice's
    // record; in the demo practice's tenant role that row is out of reach, and the caller is kept safe.
    expect(res.status).toBe(200);
    expect(res.body).toContain(EMERGENCY_DISCLAIMER);
    const record = await getCall(h.services.db, callSid);
    expect(record?.practiceId).toBe(other);
    expect(record?.statusHistory.map((e) => e.key)).toEqual(['status:ringing:0']);
  });

  it("a call to the demo practice's number is recorded under its practice, its parent leg too", async () => {
    const callSid = randomSid('CA');
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ CallSid: callSid, From: CALLER }));
    expect(res.body).toContain('<Gather');
    const demoScope = tenantScope(h.services, demo);
    const seen = await demoScope.db.selectFrom('calls').select(['practice_id', 'status_history']).where('call_sid', '=', callSid).executeTakeFirst();
    expect(seen?.practice_id).toBe(demo);
    const leg = await demoScope.db.selectFrom('call_legs').select('kind').where('call_sid', '=', callSid).executeTakeFirst();
    expect(leg?.kind).toBe('parent');
  });
});
