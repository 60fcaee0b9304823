import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { phoneIndex, createPatient } from '../src/patients/store.js';
import { createPractice } from '../src/practices/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import type { PracticeScope } from '../src/tenancy/scope.js';
import { campaignOf, listDrops, waitingDrops } from '../src/drops/campaign-store.js';
import { campaignProgress, commandCampaign, listCampaigns } from '../src/drops/campaigns.js';
import { listPracticeTemplates, resolveTemplate } from '../src/drops/templates-store.js';
import { consentHistory, countOptOuts, isOptedOut, listDisclosures, listVendorBaas, recordConsent, recordVendorBaa } from '../src/consent/store.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The drops and consent routes run under the tenant role: the store functions they call reach a
 * practice's rows only through the request's `PracticeScope`. Practice B's rows are inserted
 * directly (system role); practice A's scope must see none of them, whether the query's own
 * filter or PostgreSQL's row-level security is what stops it.
 */

const B_PHONE = '+12025550187';

let h: Harness;
let a: string;
let b: string;
let patientB: string;
let campaignB: string;
let templateB: string;
let adminA: string;

beforeAll(async () => {
  h = await startHarness('drops_tenancy');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  a = h.services.seeded.id;
  b = (await createPractice(h.services.db, { slug: 'other-clinic', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550188'] })).id;
  adminA = (await createApiKey(h.services.db, { role: 'admin', practiceId: a })).key;

  const db = h.services.db;
  patientB = await createPatient(db, h.services.keyring, { practiceId: b, phone: B_PHONE, dateOfBirth: '1970-01-02' });
  await db.insertInto('consent_disclosures').values({ practice_id: b, version: 'b-rvm-1', channel: 'rvm', text: 'B disclosure', recorded_by: 'test' }).execute();
  await db.insertInto('consents').values({ practice_id: b, patient_id: patientB, channel: 'rvm', action: 'granted', source: 'paper_form', disclosure_version: 'b-rvm-1', recorded_by: 'test', evidence_ref: null }).execute();
  await db.insertInto('opt_outs').values({ practice_id: b, phone_index: phoneIndex(h.services.keyring, B_PHONE), source: 'api', recorded_by: 'test' }).execute();
  await db.insertInto('vendor_baas').values({ practice_id: b, vendor: 'twilio', signed_at: '2026-01-05', document_ref: 'baa-b', recorded_by: 'test' }).execute();
  templateB = (
    await db.insertInto('drop_templates').values({ practice_id: b, name: 'B recall', purpose: 'recall', message_type: 'recall', text: 'Please call {practice_name} at {callback_number}.', created_by: 'test' }).returning('id').executeTakeFirstOrThrow()
  ).id;
  campaignB = (
    await db
      .insertInto('campaigns')
      .values({ practice_id: b, name: 'B campaign', template_id: 'recall', template_params: '{}', provider: 'twilio', human_answer: 'message', rate_per_minute: 30, audio_file: null, created_by: 'test' })
      .returning('id')
      .executeTakeFirstOrThrow()
  ).id;
  await db.insertInto('drops').values({ campaign_id: campaignB, practice_id: b, patient_id: patientB, provider: 'twilio' }).execute();
});

afterAll(async () => {
  await h?.close();
});

/** A's tenant connection under a scope that names B: only row-level security stands between it and B's rows. */
function lyingScope(): PracticeScope {
  return { ...tenantScope(h.services, a), practiceId: b } as PracticeScope;
}

describe('drops and consent under the tenant role', () => {
  it("B's own scope sees B's rows (the rows the other checks look for are there)", async () => {
    const scopeB = tenantScope(h.services, b);
    expect((await campaignOf(scopeB, campaignB))?.id).toBe(campaignB);
    expect(await listDrops(scopeB, campaignB, { limit: 10, offset: 0 })).toHaveLength(1);
    expect((await listDisclosures(scopeB)).map((d) => d.version)).toEqual(['b-rvm-1']);
    expect(await consentHistory(scopeB, patientB)).toHaveLength(1);
    expect(await countOptOuts(scopeB)).toEqual({ api: 1 });
    expect(await isOptedOut(scopeB, h.services.keyring, B_PHONE)).toBe(true);
    expect((await listVendorBaas(scopeB)).map((v) => v.vendor)).toEqual(['twilio']);
    expect(await resolveTemplate(scopeB, templateB)).not.toBeNull();
  });

  it("A's scope finds none of B's campaigns, drops, consents, opt-outs, BAAs or templates", async () => {
    const scopeA = tenantScope(h.services, a);
    expect(await campaignOf(scopeA, campaignB)).toBeUndefined();
    expect((await listCampaigns(scopeA)).map((c) => c.id)).not.toContain(campaignB);
    expect(await listDrops(scopeA, campaignB, { limit: 10, offset: 0 })).toEqual([]);
    expect(await waitingDrops(scopeA, campaignB)).toEqual([]);
    expect(await campaignProgress(scopeA, campaignB)).toMatchObject({ ok: false, reason: 'not_found' });
    expect(await consentHistory(scopeA, patientB)).toBeNull();
    expect(await isOptedOut(scopeA, h.services.keyring, B_PHONE)).toBe(false);
    expect((await listDisclosures(scopeA)).map((d) => d.version)).not.toContain('b-rvm-1');
    expect((await listVendorBaas(scopeA)).map((v) => v.vendor)).not.toContain('twilio');
    expect(await resolveTemplate(scopeA, templateB)).toBeNull();
    expect((await listPracticeTemplates(scopeA)).map((t) => t.id)).not.toContain(templateB);
  });

  it("a scope whose filter names B over A's tenant connection still gets nothing of B's: the database refuses", async () => {
    const lying = lyingScope();
    expect(await campaignOf(lying, campaignB)).toBeUndefined();
    expect(await listCampaigns(lying)).toEqual([]);
    expect(await listDrops(lying, campaignB, { limit: 10, offset: 0 })).toEqual([]);
    expect(await listDisclosures(lying)).toEqual([]);
    expect(await consentHistory(lying, patientB)).toBeNull();
    expect(await countOptOuts(lying)).toEqual({});
    expect(await listVendorBaas(lying)).toEqual([]);
    expect(await resolveTemplate(lying, templateB)).toBeNull();
    // Writes into B from A's connection are refused by the policy's WITH CHECK.
    await expect(recordVendorBaa(lying, h.services.audit, { vendor: 'rvm_http', signedAt: '2026-02-01', documentRef: 'x' }, 'test')).rejects.toThrow(/row-level security/);
    const consent = await recordConsent(lying, h.services.audit, { patientId: patientB, consent: { channel: 'rvm', action: 'revoked', source: 'api' }, recordedBy: 'test' });
    expect(consent).toMatchObject({ ok: false, reason: 'not_found' });
  });

  it("a command on B's campaign through A's scope is not found, and B's campaign is untouched", async () => {
    const r = await commandCampaign(h.services, tenantScope(h.services, a), campaignB, 'cancel', 'test');
    expect(r).toMatchObject({ ok: false, reason: 'not_found' });
    const row = await h.services.db.selectFrom('campaigns').select('state').where('id', '=', campaignB).executeTakeFirstOrThrow();
    expect(row.state).toBe('draft');
    const drop = await h.services.db.selectFrom('drops').select('status').where('campaign_id', '=', campaignB).executeTakeFirstOrThrow();
    expect(drop.status).toBe('pending');
  });

  it("through the API, A's admin key gets 404 for B's campaign and its drops", async () => {
    for (const path of [`/api/campaigns/${campaignB}`, `/api/campaigns/${campaignB}/drops`]) {
      const res = await fetch(h.baseUrl + path, { headers: { authorization: `Bearer ${adminA}` } });
      expect(res.status, path).toBe(404);
    }
  });
});
