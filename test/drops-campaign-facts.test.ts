import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { ConsentChannel } from '../src/adapters/db-schema.js';
import { createPatient, phoneIndex } from '../src/patients/store.js';
import { DEMO } from '../src/practices/seed.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import type { PracticeScope } from '../src/tenancy/scope.js';
import { waitingDrops } from '../src/drops/campaign-store.js';
import { loadFacts, waitingFacts } from '../src/drops/campaigns.js';
import type { RecipientFacts, SendChannel } from '../src/drops/eligibility.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * A large campaign's eligibility facts are read in one statement keyed by the campaign
 * (`waitingRecipientFacts`), a small one's by id list, chunk by chunk (`loadFacts`): the two must
 * find exactly the same facts. The threshold is lowered so that a handful of recipients takes the
 * joined read. The recipients cover every case the facts distinguish: no phone, no consent,
 * revoked, revoked and granted again, consent of the other channel only, an opted-out number,
 * drops and SMS inside and outside the week (and rows that do not count), a zone and state or
 * none; and practice B's rows about the same patients and numbers, which must not leak into A's.
 * Both under a request's scope (row-level security as well as the queries' own practice filter)
 * and a sweep's (the system role: the filters alone), as the sequence sweep plans campaigns.
 */

// Tuesday 2026-12-01 15:00Z.
const NOW = new Date('2026-12-01T15:00:00Z');
const DAY = 86_400_000;
const daysAgo = (n: number): Date => new Date(NOW.getTime() - n * DAY);
const SMS_DISCLOSURE = 'sms-2026-12';

let h: Harness;
let practice: Practice;
let otherId: string;
/** The campaign under test, of the demo practice (A), its ringless-voicemail sibling, and one of B. */
let campaignId: string;
let siblingId: string;
let otherCampaignId: string;
const ids: Record<string, string> = {};

const db = () => h.services.db;

async function addPatient(name: string, n: number, extra: { usState?: string; timeZone?: string; practiceId?: string } = {}): Promise<string> {
  const id = await createPatient(db(), h.services.keyring, {
    practiceId: extra.practiceId ?? practice.id,
    phone: phoneOf(n),
    dateOfBirth: '1970-03-04',
    ...(extra.usState ? { usState: extra.usState } : {}),
    ...(extra.timeZone ? { timeZone: extra.timeZone } : {}),
  });
  ids[name] = id;
  return id;
}

const phoneOf = (n: number): string => `+1202555${String(1000 + n)}`;

async function consent(patientId: string, channel: ConsentChannel, action: 'granted' | 'revoked', practiceId = practice.id): Promise<string> {
  const version = practiceId !== practice.id ? 'b-rvm-1' : channel === 'sms' ? SMS_DISCLOSURE : DEMO.rvmDisclosure.version;
  const row = await db()
    .insertInto('consents')
    .values({ practice_id: practiceId, patient_id: patientId, channel, action, source: 'paper_form', disclosure_version: action === 'granted' ? version : null, recorded_by: 'test', evidence_ref: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function newCampaign(practiceId: string, name: string, channel: 'rvm' | 'sms', state: 'running' | 'completed'): Promise<string> {
  const row = await db()
    .insertInto('campaigns')
    .values({ practice_id: practiceId, name, template_id: 'recall', provider: channel === 'sms' ? 'twilio' : 'rvm_http', created_by: 'test', state, channel })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function drop(campaign: string, patientId: string, status: 'pending' | 'queued' | 'sent' | 'delivered' | 'failed' | 'skipped', sentAt: Date | null, practiceId = practice.id): Promise<void> {
  await db()
    .insertInto('drops')
    .values({ campaign_id: campaign, practice_id: practiceId, patient_id: patientId, provider: 'rvm_http', status, sent_at: sentAt })
    .execute();
}

let sends = 0;
async function send(patientId: string, channel: 'sms' | 'email', status: 'planned' | 'queued' | 'delivered' | 'failed' | 'refused', sentAt: Date | null, practiceId = practice.id): Promise<void> {
  sends += 1;
  await db()
    .insertInto('outreach_sends')
    .values({ practice_id: practiceId, patient_id: patientId, channel, message_type: 'recall', origin: 'sequence:test', idempotency_key: `facts-${sends}`, status, sent_at: sentAt })
    .execute();
}

async function optOut(n: number, practiceId = practice.id): Promise<void> {
  await db().insertInto('opt_outs').values({ practice_id: practiceId, phone_index: phoneIndex(h.services.keyring, phoneOf(n)), source: 'staff', recorded_by: 'test' }).execute();
}

beforeAll(async () => {
  h = await startHarness('campaign_facts', {}, { clock: () => NOW });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  otherId = (await createPractice(db(), { slug: 'facts-other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550190'] })).id;
  await db().insertInto('consent_disclosures').values({ practice_id: practice.id, version: SMS_DISCLOSURE, channel: 'sms', text: 'SMS disclosure', recorded_by: 'test' }).execute();
  await db().insertInto('consent_disclosures').values({ practice_id: otherId, version: 'b-rvm-1', channel: 'rvm', text: 'B disclosure', recorded_by: 'test' }).execute();

  campaignId = await newCampaign(practice.id, 'facts', 'rvm', 'running');
  siblingId = await newCampaign(practice.id, 'sibling', 'rvm', 'running');
  const earlierRvm = await newCampaign(practice.id, 'earlier drops', 'rvm', 'completed');
  const earlierSms = await newCampaign(practice.id, 'earlier sms', 'sms', 'completed');
  otherCampaignId = await newCampaign(otherId, 'B campaign', 'rvm', 'completed');

  const granted = await addPatient('granted', 1);
  await consent(granted, 'rvm', 'granted');
  await consent(granted, 'sms', 'granted');

  const noPhone = await addPatient('noPhone', 2);
  await consent(noPhone, 'rvm', 'granted');
  await sql`UPDATE patients SET phone_enc = NULL WHERE id = ${noPhone}`.execute(db());

  await addPatient('noConsent', 3);

  const revoked = await addPatient('revoked', 4);
  await consent(revoked, 'rvm', 'granted');
  await consent(revoked, 'rvm', 'revoked');

  const regranted = await addPatient('regranted', 5);
  await consent(regranted, 'rvm', 'granted');
  await consent(regranted, 'rvm', 'revoked');
  ids.regrantedConsent = await consent(regranted, 'rvm', 'granted');

  const smsOnly = await addPatient('smsOnly', 6);
  await consent(smsOnly, 'sms', 'granted');

  const optedOut = await addPatient('optedOut', 7);
  await consent(optedOut, 'rvm', 'granted');
  await optOut(7);

  const zoned = await addPatient('zoned', 8, { timeZone: 'America/Los_Angeles', usState: 'CA' });
  await consent(zoned, 'rvm', 'granted');
  const stateOnly = await addPatient('stateOnly', 9, { usState: 'FL' });
  await consent(stateOnly, 'rvm', 'granted');

  const busy = await addPatient('busy', 10);
  await consent(busy, 'rvm', 'granted');
  await consent(busy, 'sms', 'granted');
  // Counted: ringless-voicemail drops sent, delivered or failed within the week; SMS the provider took within it.
  await drop(earlierRvm, busy, 'delivered', daysAgo(2));
  await drop(siblingId, busy, 'failed', daysAgo(1));
  await send(busy, 'sms', 'delivered', daysAgo(3));
  await send(busy, 'sms', 'failed', daysAgo(0.5));
  // Not counted: older than the week, an SMS campaign's drop row, a planned or refused SMS, an e-mail.
  await drop(await newCampaign(practice.id, 'older', 'rvm', 'completed'), busy, 'delivered', daysAgo(8));
  await drop(earlierSms, busy, 'delivered', daysAgo(1));
  await send(busy, 'sms', 'delivered', daysAgo(10));
  await send(busy, 'sms', 'planned', null);
  await send(busy, 'sms', 'refused', daysAgo(1));
  await send(busy, 'email', 'delivered', daysAgo(1));

  // A patient with practice B's rows about them, and about their number: none of it is A's.
  const watched = await addPatient('watched', 11);
  await consent(watched, 'rvm', 'granted');
  await consent(watched, 'rvm', 'revoked', otherId);
  await optOut(11, otherId);
  await drop(otherCampaignId, watched, 'delivered', daysAgo(1), otherId);
  await send(watched, 'sms', 'delivered', daysAgo(1), otherId);
  // B's own patient with the same number as A's "granted" one, and with B's opt-out of it.
  const bPatient = await addPatient('bPatient', 1, { practiceId: otherId });
  await consent(bPatient, 'rvm', 'granted', otherId);
  await drop(otherCampaignId, bPatient, 'delivered', daysAgo(1), otherId);

  // Waiting (pending or queued) in the campaign: everyone of A's above.
  const recipients = ['granted', 'noPhone', 'noConsent', 'revoked', 'regranted', 'smsOnly', 'optedOut', 'zoned', 'stateOnly', 'busy', 'watched'];
  for (const [i, name] of recipients.entries()) await drop(campaignId, ids[name] ?? '', i % 2 === 0 ? 'pending' : 'queued', null);
  // In the campaign but no longer waiting: not a recipient to plan.
  const done = await addPatient('done', 12);
  await consent(done, 'rvm', 'granted');
  await drop(campaignId, done, 'skipped', null);
  // Waiting in the sibling campaign only.
  const elsewhere = await addPatient('elsewhere', 13);
  await consent(elsewhere, 'rvm', 'granted');
  await drop(siblingId, elsewhere, 'pending', null);
});

afterAll(async () => {
  await h?.close();
});

const byPatient = (facts: readonly RecipientFacts[]): RecipientFacts[] => [...facts].sort((a, b) => a.patientId.localeCompare(b.patientId));

/** The chunked read, over the campaign's waiting drops: what every small campaign uses. */
async function chunked(scope: PracticeScope, channel: SendChannel): Promise<RecipientFacts[]> {
  const drops = await waitingDrops(scope, campaignId);
  return byPatient(await loadFacts(scope, practice, drops.map((d) => d.patient_id), NOW, channel));
}

/** The joined read: the threshold lowered below the campaign's size. */
async function joined(scope: PracticeScope, channel: SendChannel): Promise<RecipientFacts[]> {
  const drops = await waitingDrops(scope, campaignId);
  return byPatient(await waitingFacts(scope, practice, campaignId, drops, NOW, channel, 0));
}

function factsOf(facts: readonly RecipientFacts[], name: string): RecipientFacts {
  const found = facts.find((f) => f.patientId === ids[name]);
  if (!found) throw new Error(`no facts for ${name}`);
  return found;
}

const SCOPES: Array<[string, () => PracticeScope]> = [
  ['a request (tenant role)', () => tenantScope(h.services, practice.id)],
  ['a sweep (system role)', () => systemScope(h.services, practice.id)],
];

describe.each(SCOPES)('a campaign\u2019s eligibility facts, for %s', (_, scopeOf) => {
  it('the joined read finds exactly what the chunked read finds (ringless voicemail)', async () => {
    const expected = await chunked(scopeOf(), 'rvm');
    expect(expected).toHaveLength(11);
    expect(await joined(scopeOf(), 'rvm')).toEqual(expected);
  });

  it('the joined read finds exactly what the chunked read finds (SMS: the SMS consent)', async () => {
    const expected = await chunked(scopeOf(), 'sms');
    expect(expected).toHaveLength(11);
    expect(await joined(scopeOf(), 'sms')).toEqual(expected);
  });

  it('the facts are the rules\u2019, whichever read found them', async () => {
    for (const facts of [await joined(scopeOf(), 'rvm'), await chunked(scopeOf(), 'rvm')]) {
      expect(facts.map((f) => f.patientId).sort()).toEqual(
        ['granted', 'noPhone', 'noConsent', 'revoked', 'regranted', 'smsOnly', 'optedOut', 'zoned', 'stateOnly', 'busy', 'watched'].map((n) => ids[n]).sort(),
      );
      expect(factsOf(facts, 'granted')).toMatchObject({ hasPhone: true, consent: 'granted', optedOut: false, timeZone: practice.timeZone, usState: null, recentDrops: [], recentSms: [] });
      expect(factsOf(facts, 'noPhone').hasPhone).toBe(false);
      expect(factsOf(facts, 'noConsent')).toMatchObject({ consent: 'none', consentId: null });
      expect(factsOf(facts, 'revoked').consent).toBe('revoked');
      expect(factsOf(facts, 'regranted')).toMatchObject({ consent: 'granted', consentId: ids.regrantedConsent });
      expect(factsOf(facts, 'smsOnly').consent).toBe('none');
      expect(factsOf(facts, 'optedOut').optedOut).toBe(true);
      expect(factsOf(facts, 'zoned')).toMatchObject({ timeZone: 'America/Los_Angeles', usState: 'CA' });
      expect(factsOf(facts, 'stateOnly')).toMatchObject({ timeZone: practice.timeZone, usState: 'FL' });
      expect(factsOf(facts, 'busy')).toMatchObject({
        recentDrops: [daysAgo(3), daysAgo(2), daysAgo(1), daysAgo(0.5)],
        recentSms: [daysAgo(3), daysAgo(0.5)],
      });
      // Practice B's revocation, opt-out, drop and SMS of A's patient are B's alone.
      expect(factsOf(facts, 'watched')).toMatchObject({ consent: 'granted', optedOut: false, recentDrops: [], recentSms: [] });
    }
    expect(factsOf(await joined(scopeOf(), 'sms'), 'smsOnly').consent).toBe('granted');
  });

  it('above the threshold the facts are read by the campaign, at or below it by the drops given', async () => {
    const scope = scopeOf();
    const drops = await waitingDrops(scope, campaignId);
    const two = drops.slice(0, 2);
    expect(await waitingFacts(scope, practice, campaignId, two, NOW, 'rvm')).toHaveLength(2);
    expect(await waitingFacts(scope, practice, campaignId, two, NOW, 'rvm', 2)).toHaveLength(2);
    expect(await waitingFacts(scope, practice, campaignId, two, NOW, 'rvm', 1)).toHaveLength(drops.length);
  });
});
