import { z } from 'zod';

/**
 * The communication matrix (issue 15, item 1): per practice, for each message type × channel,
 * whether that message may go out on that channel at all, and the most detail it may carry.
 * Every outbound path asks `decideSend` before it sends, so the guide's "build a communication
 * matrix by message type and channel, then train staff to follow it" is kept by the software.
 * Pure; the stored, versioned matrix is in ./matrix-store.ts.
 *
 * Detail, least to most:
 * - `none`: who is calling and a request to call back (or to look at the portal). Nothing else.
 * - `logistics`: also the practice's hours and an appointment's day, time and place. Never
 *   anything clinical: no cell allows that, so there is no level for it.
 *
 * The defaults (`DEFAULT_MATRIX`) and the rule each follows (the facts are in
 * /work/shared/REFERENCE.md; the guide's own channel table was not among them, so the defaults
 * are derived from these rules and said here):
 * - R1 HHS guidance on voicemail: a recorded message left for a patient (ringless voicemail, an
 *   automated voice call) carries the practice's name, its number, what is needed to confirm an
 *   appointment or a request to call back; nothing more. So results-ready notices are not
 *   allowed on `rvm` or `voice`, and recorded messages carry at most logistics.
 * - R2 FCC healthcare exemption (47 CFR 64.1200(a)(9)(iv)): appointment reminders and
 *   confirmations, wellness checkups (recall) and similar purposes may be sent by automated
 *   calls and texts; billing is not among them. Every drop here needs the patient's express
 *   consent anyway, so a billing callback stays allowed, but with no detail: "please call the
 *   office about your account".
 * - R3 Minimum necessary (HIPAA): only what the purpose needs. Logistics only where the message
 *   is about a time or place (appointment reminders and confirmations, office closures, recall's
 *   office hours); `none` for the rest.
 * - R4 E-mail is for notices only (issue 15, item 3): "please call the office", "a message is
 *   waiting at your portal". Every e-mail cell allows `none` at most.
 * - R5 Pages to staff reach the on-call by SMS (pages) and by voice (the urgent call's dial).
 *   They carry no PHI (a reference code and a number to call), so `none`; neither cell can be
 *   closed (`LOCKED_OPEN`, refused by `validateMatrix`): a practice that closed them would leave
 *   urgent calls and voicemails with nobody told. Staff pages never go by ringless voicemail (not
 *   immediate enough for an urgent message).
 * - R6 Staff notices by e-mail (the morning report's summary, overdue-callback alerts to admin
 *   accounts without a phone; src/notify/staff-sender.ts) are `staff_page × email`: open by
 *   default with no detail, since they carry no PHI (a practice name, counts and a console link
 *   by id). Closed, those notices go by SMS only (to whoever has a phone), so a practice may close
 *   it; it is not locked. An urgent page never goes by e-mail: paging sends SMS only.
 */

export const MESSAGE_TYPES = [
  'appointment_reminder',
  'appointment_confirmation',
  'recall',
  'office_closure',
  'billing_callback',
  'callback_request',
  'results_ready',
  'staff_page',
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const CHANNELS = ['sms', 'rvm', 'voice', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

export const DETAIL_LEVELS = ['none', 'logistics'] as const;
export type Detail = (typeof DETAIL_LEVELS)[number];

export interface MatrixCell {
  allowed: boolean;
  /** The most detail a message of this type may carry on this channel. */
  detail: Detail;
}

export type CommunicationMatrix = Readonly<Record<MessageType, Readonly<Record<Channel, MatrixCell>>>>;

/** A cell's name as every refusal and audit event writes it: `recall × email`. */
export function cellName(type: MessageType, channel: Channel): string {
  return `${type} × ${channel}`;
}

const open = (detail: Detail): MatrixCell => ({ allowed: true, detail });
const closed: MatrixCell = { allowed: false, detail: 'none' };

/** The defaults of every practice without a matrix of its own; the rule of each row in the comment above. */
export const DEFAULT_MATRIX: CommunicationMatrix = {
  // R2, R3 (a day and time); R4 for e-mail.
  appointment_reminder: { sms: open('logistics'), rvm: open('logistics'), voice: open('logistics'), email: open('none') },
  appointment_confirmation: { sms: open('logistics'), rvm: open('logistics'), voice: open('logistics'), email: open('none') },
  // R2 (wellness checkups), R3 (the office hours to book in); R4.
  recall: { sms: open('logistics'), rvm: open('logistics'), voice: open('logistics'), email: open('none') },
  // R3: the hours are the message; R4.
  office_closure: { sms: open('logistics'), rvm: open('logistics'), voice: open('logistics'), email: open('none') },
  // R2: outside the exemption, consent required, no detail; R4.
  billing_callback: { sms: open('none'), rvm: open('none'), voice: open('none'), email: open('none') },
  // R1: a request to call back is what a voicemail may say.
  callback_request: { sms: open('none'), rvm: open('none'), voice: open('none'), email: open('none') },
  // R1: not left in a recorded message; a notice by text or e-mail to look at the portal or call.
  results_ready: { sms: open('none'), rvm: closed, voice: closed, email: open('none') },
  // R5; R6 for e-mail (staff notices: counts and a link, no PHI).
  staff_page: { sms: open('none'), rvm: closed, voice: open('none'), email: open('none') },
};

/** Cells no practice may close (R5): the way urgent calls and voicemails reach the on-call. */
export const LOCKED_OPEN: ReadonlyArray<{ type: MessageType; channel: Channel; why: string }> = [
  { type: 'staff_page', channel: 'voice', why: 'an urgent call must always be able to ring the on-call provider' },
  { type: 'staff_page', channel: 'sms', why: 'pages for urgent voicemails reach the on-call by SMS; closed, nobody would be told' },
];

const RANK: Readonly<Record<Detail, number>> = { none: 0, logistics: 1 };

/** Which cell allowed a send: named in the audit event of the send, with the matrix's version. */
export interface AllowedCell {
  cell: string;
  type: MessageType;
  channel: Channel;
  detail: Detail;
}

export type SendDecision = { ok: true; allowed: AllowedCell } | { ok: false; cell: string; reason: 'not_allowed' | 'detail_exceeds'; message: string };

/**
 * Pure: may a message of `type` go out on `channel` carrying `wanted` detail? Channel-generic:
 * drops ask with `rvm`, pages with `sms`, later senders with theirs. A refusal names the cell.
 */
export function decideSend(matrix: CommunicationMatrix, type: MessageType, channel: Channel, wanted: Detail): SendDecision {
  const cell = cellName(type, channel);
  const c = matrix[type][channel];
  if (!c.allowed) return { ok: false, cell, reason: 'not_allowed', message: `${cell}: not allowed` };
  if (RANK[wanted] > RANK[c.detail]) {
    return { ok: false, cell, reason: 'detail_exceeds', message: `${cell}: allows ${c.detail === 'none' ? 'no detail' : `${c.detail} only`} (this message carries ${wanted})` };
  }
  return { ok: true, allowed: { cell, type, channel, detail: c.detail } };
}

const CellSchema = z.strictObject({ allowed: z.boolean(), detail: z.enum(DETAIL_LEVELS) });
const RowSchema = z.strictObject({ sms: CellSchema, rvm: CellSchema, voice: CellSchema, email: CellSchema });

/**
 * The whole matrix as `PUT /api/practices/:id/communication-matrix` takes it (and as it is
 * stored): every type, every channel, nothing else; a missing or unknown one is a 400 naming it
 * (`recall.email.allowed: …`). The locked cells are checked too.
 */
export const MatrixSchema = z
  .strictObject({
    appointment_reminder: RowSchema,
    appointment_confirmation: RowSchema,
    recall: RowSchema,
    office_closure: RowSchema,
    billing_callback: RowSchema,
    callback_request: RowSchema,
    results_ready: RowSchema,
    staff_page: RowSchema,
  })
  .superRefine((m, ctx) => {
    for (const { type, channel, why } of LOCKED_OPEN) {
      if (!m[type][channel].allowed) ctx.addIssue({ code: 'custom', path: [type, channel, 'allowed'], message: `${cellName(type, channel)} cannot be closed: ${why}` });
    }
  }) satisfies z.ZodType<CommunicationMatrix>;

/**
 * Pure: a stored matrix as the service uses it. Each stored cell that reads as a cell is taken,
 * the defaults fill any other (a type or channel added since the row was written), and the
 * locked cells are open whatever the row says: a row that reads oddly never stops a page.
 */
export function fromStored(cells: unknown): CommunicationMatrix {
  const stored = typeof cells === 'object' && cells !== null ? (cells as Record<string, unknown>) : {};
  const out = {} as Record<MessageType, Record<Channel, MatrixCell>>;
  for (const type of MESSAGE_TYPES) {
    const row = stored[type];
    out[type] = { ...DEFAULT_MATRIX[type] };
    for (const channel of CHANNELS) {
      const cell = CellSchema.safeParse(typeof row === 'object' && row !== null ? (row as Record<string, unknown>)[channel] : undefined);
      if (cell.success) out[type][channel] = cell.data;
    }
  }
  for (const { type, channel } of LOCKED_OPEN) out[type][channel] = { ...out[type][channel], allowed: true };
  return out;
}
