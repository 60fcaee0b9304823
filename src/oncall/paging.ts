import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import type { Services } from '../services.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { getPractice } from '../practices/store.js';
import { listPracticeNumbers } from '../practices/store.js';
import { loadProviders, onCallFor } from './escalation.js';
import { getDefaultPolicy } from './store.js';

/**
 * Paging: when an urgent call's chain falls to voicemail, every provider of the chain is paged
 * by SMS — practice, "urgent voicemail", a reference code and the access number; no PHI — and
 * paged again every interval until someone acknowledges. After the policy's number of repeats
 * the practice's admins are paged too. Timers are BullMQ delayed jobs (they survive a restart);
 * jobs carry the page id and round only.
 */

export interface PageJobData {
  pageId: string;
  round: number;
}

/** Rounds stop here even if nobody ever acknowledges (at the default interval, four hours). */
export const MAX_PAGE_ROUNDS = 24;
const DEFAULT_INTERVAL_SECONDS = 600;
const DEFAULT_MAX_REPEATS = 3;

function spokenNumber(e164: string | undefined): string {
  const m = e164 ? /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}` : (e164 ?? '');
}

/** Pure: the page text. Nothing about the caller or the message. */
export function pageText(practiceName: string, referenceCode: string, accessNumber: string | undefined, round: number): string {
  const again = round > 0 ? ' (reminder)' : '';
  const call = accessNumber ? ` Call ${spokenNumber(accessNumber)} or reply` : ' Reply';
  return `${practiceName}: urgent voicemail waiting${again}. Ref ${referenceCode}.${call} ACK ${referenceCode} to acknowledge.`;
}

export function pageJobId(pageId: string, round: number): string {
  return `page-${pageId}-${round}`;
}

/** Opens a page for a call (once per call) and sends its first round now. */
export async function openPage(services: Services, input: { practiceId: string; callSid: string; policyId: string | null }): Promise<string> {
  const existing = await services.db.selectFrom('pages').select('id').where('call_sid', '=', input.callSid).executeTakeFirst();
  if (existing) return existing.id;
  let id: string | null = null;
  for (let i = 0; i < 5 && !id; i += 1) {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const row = await services.db
      .insertInto('pages')
      .values({ practice_id: input.practiceId, call_sid: input.callSid, policy_id: input.policyId, reference_code: code })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    id = row?.id ?? null;
    if (!id) {
      const same = await services.db.selectFrom('pages').select('id').where('call_sid', '=', input.callSid).executeTakeFirst();
      if (same) return same.id;
    }
  }
  if (!id) throw new Error('could not allocate a page reference code');
  await services.audit({ action: AuditAction.PageOpened, actor: 'system', practiceId: input.practiceId, callSid: input.callSid, subjectId: id, details: { policyId: input.policyId } });
  await services.queues.pages.add('page', { pageId: id, round: 0 } satisfies PageJobData, { jobId: pageJobId(id, 0) });
  return id;
}

/** The page worker: one round of SMS, then the next round scheduled. Re-reads the page first, so a retry is harmless. */
export async function processPageJob(services: Services, data: PageJobData): Promise<'acknowledged' | 'sent' | 'already_sent' | 'gone'> {
  const page = await services.db.selectFrom('pages').selectAll().where('id', '=', data.pageId).executeTakeFirst();
  if (!page) return 'gone';
  if (page.status === 'acknowledged') return 'acknowledged';
  const now = services.clock();
  const policy = await getDefaultPolicy(services.db, page.practice_id);
  const interval = policy?.pageIntervalSeconds ?? DEFAULT_INTERVAL_SECONDS;
  const maxRepeats = policy?.pageMaxRepeats ?? DEFAULT_MAX_REPEATS;

  if (page.rounds_sent <= data.round) {
    const [practice, numbers, providers] = await Promise.all([
      getPractice(services.db, page.practice_id),
      listPracticeNumbers(services.db, page.practice_id),
      loadProviders(services.db, page.practice_id),
    ]);
    if (!practice) return 'gone';
    const recipients = new Set<string>();
    if (policy) {
      const onCall = await onCallFor(services.db, page.practice_id, policy.tiers, now);
      for (const tier of policy.tiers) {
        const id = tier.target.kind === 'provider' ? tier.target.providerId : onCall.get(tier.target.scheduleId);
        if (id && providers.get(id)?.active) recipients.add(id);
      }
    }
    // Round 0 is the first page, rounds 1..M its repeats; from the round after that, admins too.
    const escalateToAdmins = data.round > maxRepeats || recipients.size === 0;
    if (escalateToAdmins) {
      for (const p of providers.values()) if (p.isPracticeAdmin && p.active) recipients.add(p.id);
    }
    const accessNumber = numbers[0]?.e164;
    const body = pageText(practice.greetingName, page.reference_code, accessNumber, data.round);
    // Skip anyone this round already reached (a retried job after a partial send).
    const done = await services.db
      .selectFrom('call_legs')
      .select('provider_id')
      .where('call_sid', '=', page.call_sid)
      .where('kind', '=', 'page')
      .where('round', '=', data.round)
      .execute();
    const already = new Set(done.map((d) => d.provider_id));
    for (const providerId of recipients) {
      const provider = providers.get(providerId);
      if (!provider || already.has(providerId) || !accessNumber) continue;
      const to = provider.smsPhone ?? provider.phone;
      const { sid } = await services.twilio.sendSms({ to, from: accessNumber, body });
      await services.db
        .insertInto('call_legs')
        .values({
          call_sid: page.call_sid,
          leg_sid: sid,
          practice_id: page.practice_id,
          kind: 'page',
          round: data.round,
          provider_id: providerId,
          number_tried: to,
          outcome: 'sent',
          started_at: services.clock(),
        })
        .execute();
    }
    await services.db
      .updateTable('pages')
      .set({ rounds_sent: sql<number>`GREATEST(rounds_sent, ${data.round + 1})`, ...(escalateToAdmins ? { admin_paged: true } : {}) })
      .where('id', '=', page.id)
      .execute();
    const events: AuditEvent[] = [
      { action: AuditAction.PageSent, actor: 'system', practiceId: page.practice_id, callSid: page.call_sid, subjectId: page.id, details: { round: data.round, recipients: recipients.size } },
      ...(escalateToAdmins && !page.admin_paged
        ? [{ action: AuditAction.PageAdminEscalated, actor: 'system', practiceId: page.practice_id, callSid: page.call_sid, subjectId: page.id, details: { round: data.round } }]
        : []),
    ];
    await services.audit(events);
  }
  if (data.round + 1 < MAX_PAGE_ROUNDS) {
    await services.queues.pages.add('page', { pageId: page.id, round: data.round + 1 } satisfies PageJobData, {
      jobId: pageJobId(page.id, data.round + 1),
      delay: interval * 1000,
    });
  }
  return page.rounds_sent > data.round ? 'already_sent' : 'sent';
}

export type AckResult = { result: 'acknowledged' | 'already'; pageId: string; referenceCode: string } | { result: 'not_found' };

/** Acknowledges a page (by id, or by reference code within a practice). Later rounds then send nothing. */
export async function acknowledgePage(
  services: Services,
  input: { practiceId: string; pageId?: string; referenceCode?: string; by: string; via: 'api' | 'sms' | 'keypad' },
): Promise<AckResult> {
  let q = services.db.selectFrom('pages').selectAll().where('practice_id', '=', input.practiceId);
  if (input.pageId) q = q.where('id', '=', input.pageId);
  else if (input.referenceCode) q = q.where('reference_code', '=', input.referenceCode);
  else q = q.where('status', '=', 'open').orderBy('created_at', 'desc').limit(1);
  const page = await q.executeTakeFirst();
  if (!page) return { result: 'not_found' };
  if (page.status === 'acknowledged') return { result: 'already', pageId: page.id, referenceCode: page.reference_code };
  const updated = await services.db
    .updateTable('pages')
    .set({ status: 'acknowledged', acknowledged_at: services.clock(), acknowledged_by: input.by })
    .where('id', '=', page.id)
    .where('status', '=', 'open')
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return { result: 'already', pageId: page.id, referenceCode: page.reference_code };
  await services.audit({
    action: AuditAction.PageAcknowledged,
    actor: input.by,
    practiceId: page.practice_id,
    callSid: page.call_sid,
    subjectId: page.id,
    details: { via: input.via, roundsSent: page.rounds_sent },
  });
  // Best effort: drop the next round's timer now (the worker would skip it anyway).
  const next = await services.queues.pages.getJob(pageJobId(page.id, page.rounds_sent));
  await next?.remove().catch(() => undefined);
  return { result: 'acknowledged', pageId: page.id, referenceCode: page.reference_code };
}
