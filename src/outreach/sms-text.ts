/**
 * What an SMS costs and says beyond its words (issue 15, item 2). Pure.
 *
 * Segments (REFERENCE.md, SMS): text entirely in the GSM-7 alphabet is 160 characters in one
 * segment, 153 per segment when split (characters of the extension table, such as `{` `€` `^`,
 * take two); any other character makes the whole message UCS-2: 70 in one segment, 67 per segment
 * when split (a character outside the Basic Multilingual Plane, such as an emoji, takes two).
 *
 * The opt-out sentence: the first message of a conversation with a number (no SMS from this
 * practice to it in the last CONVERSATION_GAP_DAYS days) ends with OPT_OUT_SMS_SENTENCE.
 */

/** The GSM 03.38 basic character set (one septet each). */
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** The GSM 03.38 extension table (an escape and a septet: two each). */
const GSM7_EXTENDED = '\f^{}\\[~]|€';

const BASIC = new Set([...GSM7_BASIC]);
const EXTENDED = new Set([...GSM7_EXTENDED]);

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsLength {
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
  /** Units one segment holds in this message (160/153 or 70/67). */
  perSegment: number;
}

/** At most this many segments per patient SMS (a template that could exceed it is refused). */
export const MAX_SMS_SEGMENTS = 3;

/** The opt-out sentence the first message of a conversation ends with. */
export const OPT_OUT_SMS_SENTENCE = 'Reply STOP to opt out.';

/** No SMS to a number for this long, and the next one starts a new conversation (it carries the opt-out sentence again). */
export const CONVERSATION_GAP_DAYS = 30;

/** Pure: the encoding and segments of `text`. An empty text is one segment. */
export function smsLength(text: string): SmsLength {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (BASIC.has(ch)) septets += 1;
    else if (EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return { encoding: 'GSM-7', units: septets, segments: septets <= 160 ? 1 : Math.ceil(septets / 153), perSegment: septets <= 160 ? 160 : 153 };
  const units = text.length; // UTF-16 code units: a surrogate pair counts two
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67), perSegment: units <= 70 ? 70 : 67 };
}

/** Pure: the text as sent, with the opt-out sentence when it opens a conversation. */
export function withOptOut(text: string, firstOfConversation: boolean): string {
  if (!firstOfConversation) return text;
  return `${text.trimEnd()} ${OPT_OUT_SMS_SENTENCE}`;
}

/** Pure: does a message to a number last sent `lastSentAt` (or never) open a conversation at `now`? */
export function opensConversation(lastSentAt: Date | null, now: Date): boolean {
  return lastSentAt === null || now.getTime() - lastSentAt.getTime() >= CONVERSATION_GAP_DAYS * 24 * 3_600_000;
}
