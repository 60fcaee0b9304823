import { z } from 'zod';
import type { ConsentChannel, ConsentSource, DropVendor } from '../adapters/db-schema.js';

/**
 * Consent, opt-out and vendor BAAs: the permissions a drop needs. Pure shapes and decisions;
 * the queries are in ./store.ts.
 *
 * - Consent is per patient and channel, an append-only history; the current state is the latest
 *   entry. A grant names the versioned risk disclosure that was shown.
 * - An opt-out is per practice and phone number (blind index): a number that opted out is never
 *   dropped again, whatever consent says later.
 * - A drop provider may carry a practice's drops only once a signed BAA with it is on record.
 */

export const CONSENT_CHANNELS = ['voice', 'rvm', 'sms', 'email'] as const satisfies readonly ConsentChannel[];
export const CONSENT_SOURCES = ['web_form', 'paper_form', 'verbal', 'api', 'sms_stop', 'keypad', 'staff'] as const satisfies readonly ConsentSource[];
export const OPT_OUT_SOURCES = ['sms_stop', 'keypad', 'staff', 'api'] as const;
export type OptOutSource = (typeof OPT_OUT_SOURCES)[number];
export const DROP_VENDORS = ['rvm_http', 'twilio'] as const satisfies readonly DropVendor[];

export type ConsentState = 'granted' | 'revoked' | 'none';

export interface ConsentEntry {
  id: string;
  seq: number;
  channel: ConsentChannel;
  action: 'granted' | 'revoked';
  source: ConsentSource;
  disclosureVersion: string | null;
  recordedBy: string;
  evidenceRef: string | null;
  recordedAt: string;
}

/** Pure: the current state of each channel from a history (any order). */
export function currentState(history: readonly ConsentEntry[]): Record<ConsentChannel, ConsentState> {
  const state: Record<ConsentChannel, ConsentState> = { voice: 'none', rvm: 'none', sms: 'none', email: 'none' };
  const latest = new Map<ConsentChannel, number>();
  for (const e of history) {
    if ((latest.get(e.channel) ?? -1) < e.seq) {
      latest.set(e.channel, e.seq);
      state[e.channel] = e.action;
    }
  }
  return state;
}

const Version = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,40}$/, { message: 'expected a version such as "rvm-2026-11" (lower case, digits, . _ -)' });
const Reference = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[\x20-\x7e]+$/, { message: 'expected printable ASCII (a document id or URL, not the document itself)' });

export const DisclosureInput = z.strictObject({
  version: Version,
  channel: z.enum(CONSENT_CHANNELS),
  text: z.string().trim().min(1).max(4000),
});

export const ConsentInput = z
  .strictObject({
    channel: z.enum(CONSENT_CHANNELS),
    action: z.enum(['granted', 'revoked']),
    source: z.enum(CONSENT_SOURCES),
    disclosureVersion: Version.optional(),
    evidenceRef: Reference.optional(),
  })
  .refine((c) => c.action === 'revoked' || c.disclosureVersion !== undefined, {
    message: 'a grant must name the disclosureVersion that was shown',
    path: ['disclosureVersion'],
  })
  .refine((c) => c.action === 'revoked' || c.evidenceRef !== undefined, {
    message: 'a grant must carry an evidenceRef (signed form, recording or web-form submission id)',
    path: ['evidenceRef'],
  });
export type ConsentInputType = z.infer<typeof ConsentInput>;

export const VendorBaaInput = z.strictObject({
  vendor: z.enum(DROP_VENDORS),
  signedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected the signing date YYYY-MM-DD' }),
  documentRef: Reference,
});

/** SMS keywords that opt a number out (the CTIA set Twilio also honours). */
export const STOP_WORDS: ReadonlySet<string> = new Set(['stop', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit', 'revoke', 'optout']);

/** SMS keywords that undo an opt-out (CTIA; Twilio's default handling honours them too). */
export const START_WORDS: ReadonlySet<string> = new Set(['start', 'unstop']);
/**
 * Words that undo an opt-out only when the number is opted out: otherwise "Yes" is a patient
 * answering (a message like any other, kept and made a task), not a request to resubscribe.
 */
export const START_IF_OPTED_OUT_WORDS: ReadonlySet<string> = new Set(['yes']);
/** SMS keywords that ask for the carrier-expected help reply. */
export const HELP_WORDS: ReadonlySet<string> = new Set(['help', 'info']);

/** Pure: an SMS body as a keyword is compared (trimmed, lower case, trailing . or ! dropped). */
export function keywordOf(body: string): string {
  return body.trim().toLowerCase().replace(/[.!]+$/, '');
}

/** Pure: whether an SMS body asks to stop. */
export function isStopMessage(body: string): boolean {
  return STOP_WORDS.has(keywordOf(body));
}
