// Over 400 lines because one page's life (open, rounds, each recipient's send, acknowledgement, the shared reference code) reads best in one place.
import { randomInt } from 'node:crypto';
import { UnrecoverableError, type JobsOptions } from 'bullmq';
import type { AppContext } from '../app-context.js';
import type { EscalationTier } from '../adapters/db-schema.js';
import { TwilioRestError } from '../adapters/twilio-rest.js';
import { retryBriefly } from '../adapters/retry-briefly.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { hasAuditEvent } from '../audit/store.js';
import { logger } from '../log/logger.js';
import { practiceSender, sendStaffSms } from '../notify/staff-sender.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { systemScope } from '../tenancy/system-scope.js';
import { matrixFor } from '../outreach/matrix-store.js';
import { decideSend } from '../outreach/matrix.js';
import { loadProviders, onCallFor } from './escalation.js';
import { getDefaultPolicy, getPolicy, type EscalationPolicy } from './store.js';
import {
  claimRound,
  countDeliveryAttempt,
  findPageByCall,
  findPracticePage,
  getDelivery,
  getPage,
  insertDeliveries,
  insertPage,
  insertPageLeg,
  listOpenPages,
  markAcknowledged,
  recordDeliveryFailure,
  recordDeliverySent,
  settleWaitingDelivery,
  waitingDeliveriesOfOpenPages,
  waitingRecipients,
  voicemailCodeOfCall,
  type DeliveryKey,
  type PageRow,
} from './paging-store.js';

/**
 * Paging: when an urgent call's chain falls to voicemail, every provider of the chain is paged
 * by SMS — practice, "urgent voicemail", a reference code and the access number; no PHI — and
 * paged again every interval until someone acknowledges. After the policy's number of repeats
 * the practice's admins are paged too. Timers are BullMQ delayed jobs (they survive a restart);
 * jobs carry ids only.
 *
 * A round job schedules the next round first, then hands each recipient a delivery of their
 * own (a row in page_deliveries and a job): one failing number is retried, or given up on, by
 * itself, and never holds up the others or the rounds after it.
 */

/** A round of a page (`providerId` absent), or one recipient's SMS of that round. Ids only. */
export interface PageJobData {
  pageId: string;
  round: number;
  providerId?: string;
}

/** Rounds stop here even if nobody ever acknowledges (at the default interval, four hours); then the page gives up, audited. */
export const MAX_PAGE_ROUNDS = 24;
/** Tries of one recipient's SMS before it is recorded as failed. */
const PAGE_SEND_ATTEMPTS = 6;
/** First retry delay of a recipient's SMS; doubles each time, with jitter. */
const PAGE_SEND_BACKOFF_MS = 3_000;
const DEFAULT_INTERVAL_SECONDS = 600;
const DEFAULT_MAX_REPEATS = 3;
const SWEEP_LIMIT = 500;

export type PageJobResult = 'acknowledged' | 'sent' | 'already_sent' | 'gone' | 'gave_up' | 'superseded';

/** What opening a page uses: the pages table, the audit log and the pages queue. */
export type OpenPageDeps = Pick<AppContext, 'db' | 'audit' | 'queues'>;
/** What the pages worker uses: it re-reads the page, sends the SMS, audits and queues the next round. */
export type PageWorkerDeps = Pick<AppContext, 'db' | 'audit' | 'clock' | 'queues' | 'twilio' | 'config'>;
/** What the sweep uses: the open pages and the queue it puts their jobs back on. */
export type PageSweepDeps = Pick<AppContext, 'db' | 'queues'>;
/** What an acknowledgement uses besides the practice's scope: the audit log, the clock, and the queue whose next round it drops. */
export type AckDeps = Pick<AppContext, 'audit' | 'clock' | 'queues'>;
type PageQueue = Pick<AppContext, 'queues'>;

export function spokenNumber(e164: string | undefined): string {
  const m = e164 ? /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}` : (e164 ?? '');
}

/**
 * Pure: the page text. Nothing about the caller or the message. The reference is the voicemail's
 * too (one code: keyed on the access line it plays the message and stops the paging). `consoleUrl`
 * (`pageConsoleUrl`) links the page's view in the staff console (/console/pages/:pageId): an id, never PHI.
 */
export function pageText(practiceName: string, referenceCode: string, accessNumber: string | undefined, round: number, consoleUrl?: string): string {
  const again = round > 0 ? ' (reminder)' : '';
  const call = accessNumber ? ` Call ${spokenNumber(accessNumber)} or reply` : ' Reply';
  const link = consoleUrl ? ` ${consoleUrl}` : '';
  return `${practiceName}: urgent voicemail waiting${again}. Ref ${referenceCode}.${call} ACK ${referenceCode} to acknowledge.${link}`;
}

/** Pure: the staff console's view of a page (the page's id only). */
export function pageConsoleUrl(publicBaseUrl: string, pageId: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/console/pages/${encodeURIComponent(pageId)}`;
}

export interface PageRecipients {
  providerIds: string[];
  escalateToAdmins: boolean;
}

/**
 * Pure: who a round pages. Round 0 is the first page, rounds 1..M its repeats; from the round
 * after that (or at once, when the chain names nobody reachable) the practice's admins too.
 */
export function pageRecipients(input: {
  tiers: readonly EscalationTier[] | null;
  onCall: ReadonlyMap<string, string | null>;
  providers: ReadonlyMap<string, { id: string; active: boolean; isPracticeAdmin: boolean }>;
  round: number;
  maxRepeats: number;
}): PageRecipients {
  const ids = new Set<string>();
  for (const tier of input.tiers ?? []) {
    const id = tier.target.kind === 'provider' ? tier.target.providerId : input.onCall.get(tier.target.scheduleId);
    if (id && input.providers.get(id)?.active) ids.add(id);
  }
  const escalateToAdmins = input.round > input.maxRepeats || ids.size === 0;
  if (escalateToAdmins) {
    for (const p of input.providers.values()) if (p.isPracticeAdmin && p.active) ids.add(p.id);
  }
  return { providerIds: [...ids], escalateToAdmins };
}

/** A fresh six-digit reference code (pages and voicemails draw theirs alike; the inserts refuse one in use). */
export function randomReferenceCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

export function pageJobId(pageId: string, round: number): string {
  return `page-${pageId}-${round}`;
}

export function pageSendJobId(pageId: string, round: number, providerId: string): string {
  return `page-${pageId}-${round}-${providerId}`;
}

const SEND_JOB_OPTIONS: JobsOptions = {
  // One more than the delivery's own budget: the delivery row, not BullMQ, decides when to stop.
  attempts: PAGE_SEND_ATTEMPTS + 1,
  backoff: { type: 'exponential', delay: PAGE_SEND_BACKOFF_MS, jitter: 0.5 },
};

async function queueRound(services: PageQueue, pageId: string, round: number, delayMs = 0): Promise<void> {
  await services.queues.pages.add('page', { pageId, round } satisfies PageJobData, { jobId: pageJobId(pageId, round), ...(delayMs > 0 ? { delay: delayMs } : {}) });
}

async function queueSend(services: PageQueue, pageId: string, round: number, providerId: string): Promise<void> {
  await services.queues.pages.add('page-send', { pageId, round, providerId } satisfies PageJobData, { jobId: pageSendJobId(pageId, round, providerId), ...SEND_JOB_OPTIONS });
}

/**
 * Opens a page for a call (once per call) and queues its first round. Every call for a call
 * whose page is open and has sent no round queues that round again (idempotent, by job id), so
 * a page whose first job was lost is picked up by the next call here or by `sweepPages`.
 */
export async function openPage(services: OpenPageDeps, input: { practiceId: string; callSid: string; policyId: string | null }): Promise<string> {
  const existing = await findPageByCall(services.db, input.callSid);
  if (existing) {
    if (existing.status === 'open' && existing.rounds_sent === 0) await queueFirstRound(services, existing.id);
    return existing.id;
  }
  let id: string | null = null;
  // One code per page and voicemail: a recording the call already left lends the page its code.
  const voicemailCode = await voicemailCodeOfCall(services.db, input.callSid);
  for (let i = 0; i < 5 && !id; i += 1) {
    const code = i === 0 && voicemailCode !== undefined ? voicemailCode : randomReferenceCode();
    id = (await insertPage(services.db, { ...input, referenceCode: code })) ?? null;
    if (!id) {
      const same = await findPageByCall(services.db, input.callSid);
      if (same) return same.id;
    }
  }
  if (!id) throw new Error('could not allocate a page reference code');
  await services.audit({ action: AuditAction.PageOpened, actor: 'system', practiceId: input.practiceId, callSid: input.callSid, subjectId: id, details: { policyId: input.policyId } });
  await queueFirstRound(services, id);
  return id;
}

/** Queues round 0. A queue failure is logged, not thrown: the page row exists, and the sweep (or the next openPage) queues it. */
async function queueFirstRound(services: PageQueue, pageId: string): Promise<void> {
  try {
    await queueRound(services, pageId, 0);
  } catch (err) {
    logger.error('page could not be queued; the page sweep will queue it', { err, pageId });
  }
}

/** The page's own policy; the practice's default only when it had none or it is gone. */
async function policyOf(scope: PracticeScope, page: PageRow): Promise<EscalationPolicy | null> {
  const own = page.policy_id ? await getPolicy(scope, page.policy_id) : null;
  return own ?? getDefaultPolicy(scope);
}

/** The pages worker: a round, or one recipient's SMS. Re-reads everything first, so a retry is harmless. */
export async function processPageJob(services: PageWorkerDeps, data: PageJobData): Promise<PageJobResult> {
  return data.providerId ? processPageSend(services, { ...data, providerId: data.providerId }) : processPageRound(services, data);
}

async function processPageRound(services: PageWorkerDeps, data: PageJobData): Promise<PageJobResult> {
  const page = await getPage(services.db, data.pageId);
  if (!page) return 'gone';
  if (page.status === 'acknowledged') return 'acknowledged';
  if (data.round >= MAX_PAGE_ROUNDS) return giveUp(services, page);
  // The job carries the page id only; the page names its practice.
  const scope = systemScope(services, page.practice_id);
  const policy = await policyOf(scope, page);
  const interval = policy?.pageIntervalSeconds ?? DEFAULT_INTERVAL_SECONDS;
  const maxRepeats = policy?.pageMaxRepeats ?? DEFAULT_MAX_REPEATS;

  // The next round first: whatever happens to this one's SMS, the repeats still come.
  if (page.rounds_sent <= data.round + 1) await queueRound(services, page.id, data.round + 1, interval * 1000);
  if (page.rounds_sent > data.round) return 'already_sent';

  const now = services.clock();
  const providers = await loadProviders(scope);
  const onCall = policy ? await onCallFor(scope, policy.tiers, now) : new Map<string, string | null>();
  const { providerIds, escalateToAdmins } = pageRecipients({ tiers: policy?.tiers ?? null, onCall, providers, round: data.round, maxRepeats });

  // One delivery per recipient of this round; a retried round adds nobody twice.
  const deliveries = providerIds.flatMap((id) => {
    const p = providers.get(id);
    return p ? [{ page_id: page.id, round: data.round, provider_id: id, number_tried: p.smsPhone ?? p.phone, created_at: now, updated_at: now }] : [];
  });
  await insertDeliveries(services.db, deliveries);
  for (const providerId of await waitingRecipients(services.db, page.id, data.round)) await queueSend(services, page.id, data.round, providerId);

  // Exactly one run of a round claims it and audits it.
  if (!(await claimRound(services.db, page.id, data.round, escalateToAdmins))) return 'already_sent';
  // The communication matrix's staff_page × sms is locked open (src/outreach/matrix.ts, R5): asked
  // so the round names the cell and version it went under; it never holds a page back. Read from
  // this instance's short cache (src/outreach/matrix-store.ts `matrixFor`).
  const matrix = await matrixFor(scope);
  const cell = decideSend(matrix.matrix, 'staff_page', 'sms', 'none');
  const matrixTrace = { matrixCell: cell.ok ? cell.allowed.cell : cell.cell, matrixVersion: matrix.version };
  const events: AuditEvent[] = [
    { action: AuditAction.PageSent, actor: 'system', practiceId: page.practice_id, callSid: page.call_sid, subjectId: page.id, details: { round: data.round, recipients: deliveries.length, ...matrixTrace } },
    ...(escalateToAdmins && !page.admin_paged
      ? [{ action: AuditAction.PageAdminEscalated, actor: 'system', practiceId: page.practice_id, callSid: page.call_sid, subjectId: page.id, details: { round: data.round } }]
      : []),
  ];
  await services.audit(events);
  return 'sent';
}

/** One interval after the last round, a page nobody acknowledged gives up, once and audited. */
async function giveUp(services: Pick<AppContext, 'db' | 'audit'>, page: PageRow): Promise<PageJobResult> {
  if (await hasAuditEvent(services.db, AuditAction.PageGaveUp, page.id)) return 'gave_up';
  await services.audit({
    action: AuditAction.PageGaveUp,
    actor: 'system',
    practiceId: page.practice_id,
    callSid: page.call_sid,
    subjectId: page.id,
    details: { roundsSent: page.rounds_sent, maxRounds: MAX_PAGE_ROUNDS, adminPaged: page.admin_paged },
  });
  return 'gave_up';
}

/** Why a send failed, as a short code (never Twilio's text, which may echo the number), and whether a retry may help. */
function sendFailure(err: unknown): { code: string; transient: boolean } {
  if (err instanceof TwilioRestError) {
    const code = err.twilioCode !== null ? `twilio_${err.twilioCode}` : err.status !== null ? `http_${err.status}` : err.reason;
    return { code, transient: err.retryable };
  }
  return { code: 'internal', transient: true };
}

async function processPageSend(services: PageWorkerDeps, data: Required<PageJobData>): Promise<PageJobResult> {
  const { pageId, round, providerId } = data;
  // The key of this job's delivery row: every query below is about it alone.
  const thisDelivery: DeliveryKey = { page_id: pageId, round, provider_id: providerId };
  const page = await getPage(services.db, pageId);
  const delivery = await getDelivery(services.db, thisDelivery);
  if (!page || !delivery) return 'gone';
  if (delivery.status !== 'queued' && delivery.status !== 'retrying') return 'already_sent';
  const settle = (status: 'cancelled' | 'superseded'): Promise<void> => settleWaitingDelivery(services.db, thisDelivery, status, services.clock());
  if (page.status === 'acknowledged') {
    await settle('cancelled');
    return 'acknowledged';
  }
  // A later round has started: this one's reminder would only arrive after it.
  if (page.rounds_sent > round + 1) {
    await settle('superseded');
    return 'superseded';
  }

  const attempts = await countDeliveryAttempt(services.db, thisDelivery, services.clock());
  if (attempts === undefined) return 'already_sent';

  const { practice, named, from } = await practiceSender(systemScope(services, page.practice_id));
  if (!practice) return 'gone';
  const body = pageText(practice.greetingName, page.reference_code, named, round, pageConsoleUrl(services.config.publicBaseUrl, page.id));

  let sid: string;
  try {
    if (!from) throw new UnrecoverableError('no_sender_number');
    sid = (await sendStaffSms(services, { to: delivery.number_tried, from, body })).sid;
  } catch (err) {
    const { code, transient } = err instanceof UnrecoverableError ? { code: err.message, transient: false } : sendFailure(err);
    const final = !transient || attempts >= PAGE_SEND_ATTEMPTS;
    const now = services.clock();
    // The delivery's state and its leg on the call's timeline in one transaction: never one without the other.
    await services.db.transaction().execute(async (trx) => {
      await recordDeliveryFailure(trx, thisDelivery, final, code, now);
      if (final) await insertPageLeg(trx, page, delivery.number_tried, { round, providerId, sid: null, outcome: 'failed', at: now });
    });
    await services.audit({
      action: AuditAction.PageSendFailed,
      actor: 'system',
      practiceId: page.practice_id,
      callSid: page.call_sid,
      subjectId: page.id,
      details: { round, providerId, attempt: attempts, reason: code, final },
    });
    if (final) throw new UnrecoverableError(`page sms failed for good: ${code}`);
    throw new Error(`page sms failed, will retry: ${code}`);
  }
  const now = services.clock();
  // Sent: recorded through a brief database fault too, since a retry of this job would send the SMS
  // again; the delivery and its leg in one transaction, so a retry finding it sent finds the leg too.
  await retryBriefly(() =>
    services.db.transaction().execute(async (trx) => {
      await recordDeliverySent(trx, thisDelivery, sid, now);
      await insertPageLeg(trx, page, delivery.number_tried, { round, providerId, sid, outcome: 'sent', at: now });
    }),
  );
  return 'sent';
}

/**
 * Reconciles open pages with the queue (run it every few minutes): an open page whose next
 * round has no job (lost, or failed for good) gets one now, and a delivery still waiting to be
 * sent whose job is gone gets its job back. Idempotent, by job id.
 */
export async function sweepPages(services: PageSweepDeps): Promise<{ rounds: number; sends: number }> {
  const open = await listOpenPages(services.db, MAX_PAGE_ROUNDS, SWEEP_LIMIT);
  let rounds = 0;
  for (const page of open) {
    const job = await services.queues.pages.getJob(pageJobId(page.id, page.rounds_sent));
    if (!job) {
      await queueRound(services, page.id, page.rounds_sent);
      rounds += 1;
    } else if (await job.isFailed()) {
      await job.retry();
      rounds += 1;
    }
  }
  const waiting = await waitingDeliveriesOfOpenPages(services.db, SWEEP_LIMIT);
  let sends = 0;
  for (const d of waiting) {
    if (await services.queues.pages.getJob(pageSendJobId(d.page_id, d.round, d.provider_id))) continue;
    await queueSend(services, d.page_id, d.round, d.provider_id);
    sends += 1;
  }
  return { rounds, sends };
}

export type AckResult = { result: 'acknowledged' | 'already'; pageId: string; referenceCode: string } | { result: 'not_found' };

/** Acknowledges one of the scope's practice's pages (by id, or by reference code). Later rounds then send nothing. */
export async function acknowledgePage(
  services: AckDeps,
  scope: PracticeScope,
  input: { pageId?: string; referenceCode?: string; by: string; via: 'api' | 'sms' | 'keypad' },
): Promise<AckResult> {
  const page = await findPracticePage(scope, {
    ...(input.pageId ? { pageId: input.pageId } : {}),
    ...(input.referenceCode ? { referenceCode: input.referenceCode } : {}),
  });
  if (!page) return { result: 'not_found' };
  if (page.status === 'acknowledged') return { result: 'already', pageId: page.id, referenceCode: page.reference_code };
  if (!(await markAcknowledged(scope, page.id, input.by, services.clock()))) return { result: 'already', pageId: page.id, referenceCode: page.reference_code };
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

/** The keys a provider enters to acknowledge a page: its 6-digit reference, then #. */
const PAGE_REFERENCE = /^\d{6}$/;

export type KeypadAckResult = 'acknowledged' | 'already' | 'not_found' | 'timeout';

/**
 * A page acknowledged from a keypad by a provider already identified (the access line, after
 * the PIN): `digits` as Twilio's Gather posts them. Audited as via 'keypad', by the provider.
 */
export async function acknowledgePageByKeypad(services: AckDeps, scope: PracticeScope, input: { providerId: string; digits: string | undefined }): Promise<KeypadAckResult> {
  const digits = (input.digits ?? '').replace(/#$/, '');
  if (digits === '' || digits === 'timeout') return 'timeout';
  if (!PAGE_REFERENCE.test(digits)) return 'not_found';
  const ack = await acknowledgePage(services, scope, { referenceCode: digits, by: `provider:${input.providerId}`, via: 'keypad' });
  return ack.result;
}
