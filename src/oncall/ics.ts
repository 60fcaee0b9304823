/**
 * iCalendar (RFC 5545) rendering of on-call shifts for subscription feeds. Pure.
 *
 * No PHI ever goes in: callers pass generic summaries such as "On call: Demo Family Medicine" and ids,
 * never patient names, numbers or messages.
 */

export interface IcsEvent {
  uid: string;
  start: Date;
  end: Date;
  summary: string;
  description?: string;
}

export interface RenderIcsOptions {
  calendarName: string;
  prodId?: string;
  events: readonly IcsEvent[];
  /** Stamped as DTSTAMP on every event. */
  now: Date;
}

export const DEFAULT_PRODID = '-//After-Hours Line//On-call schedule//EN';
/** RFC 5545 §3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break. */
export const MAX_LINE_OCTETS = 75;
const CRLF = '\r\n';

/** Control characters TEXT may not carry (HTAB is allowed; CR and LF are escaped as line breaks). */
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
/** A UTF-16 surrogate not part of a pair: not a character, so not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertText(value: string, field: string): void {
  if (typeof value !== 'string') throw new TypeError(`${field}: expected a string`);
  if (FORBIDDEN_CONTROL.test(value)) throw new RangeError(`${field}: control characters are not allowed`);
  if (LONE_SURROGATE.test(value)) throw new RangeError(`${field}: not well-formed Unicode`);
}

/** TEXT value escaping (RFC 5545 §3.3.11): backslash, semicolon, comma, and line breaks as `\n`. */
export function escapeText(value: string): string {
  return value.replace(/\r\n|[\\;,\n\r]/g, (ch) => {
    switch (ch) {
      case '\\':
        return '\\\\';
      case ';':
        return '\\;';
      case ',':
        return '\\,';
      default:
        return '\\n';
    }
  });
}

/** A UTC DATE-TIME, `YYYYMMDDTHHMMSSZ` (seconds truncated). */
export function formatUtc(date: Date, field: string): string {
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new RangeError(`${field}: invalid Date`);
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`${field}: year out of range`);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${p(year, 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `T${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`
  );
}

/** Octets of one code point in UTF-8. */
function utf8Length(codePoint: string): number {
  const cp = codePoint.codePointAt(0) ?? 0;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * Fold a content line (RFC 5545 §3.1): at most 75 octets per physical line, continuation lines start
 * with one space (which counts). Splits only between code points, never inside a UTF-8 sequence.
 */
export function foldLine(line: string): string {
  const out: string[] = [];
  let current = '';
  let octets = 0;
  for (const ch of line) {
    const size = utf8Length(ch);
    if (octets + size > MAX_LINE_OCTETS) {
      out.push(current);
      current = ' ';
      octets = 1;
    }
    current += ch;
    octets += size;
  }
  out.push(current);
  return out.join(CRLF);
}

function property(name: string, value: string): string {
  return foldLine(`${name}:${value}`);
}

/** A VCALENDAR with one VEVENT per event, times in UTC, CRLF line endings (including the last line). */
export function renderIcs(opts: RenderIcsOptions): string {
  const prodId = opts.prodId ?? DEFAULT_PRODID;
  assertText(opts.calendarName, 'calendarName');
  assertText(prodId, 'prodId');
  const stamp = formatUtc(opts.now, 'now');

  const lines: string[] = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    property('PRODID', escapeText(prodId)),
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    property('X-WR-CALNAME', escapeText(opts.calendarName)),
  ];

  for (const [i, event] of opts.events.entries()) {
    const field = (name: string): string => `events[${i}].${name}`;
    assertText(event.uid, field('uid'));
    if (event.uid.length === 0) throw new RangeError(`${field('uid')}: required`);
    assertText(event.summary, field('summary'));
    if (event.description !== undefined) assertText(event.description, field('description'));
    const start = formatUtc(event.start, field('start'));
    const end = formatUtc(event.end, field('end'));
    if (event.end.getTime() <= event.start.getTime()) throw new RangeError(`${field('end')}: must be after start`);

    lines.push(
      'BEGIN:VEVENT',
      property('UID', escapeText(event.uid)),
      `DTSTAMP:${stamp}`,
      `DTSTART:${start}`,
      `DTEND:${end}`,
      property('SUMMARY', escapeText(event.summary)),
    );
    if (event.description !== undefined) lines.push(property('DESCRIPTION', escapeText(event.description)));
    lines.push('END:VEVENT');
  }

  lines.push('END:VCALENDAR');
  return lines.join(CRLF) + CRLF;
}
