import { describe, expect, it } from 'vitest';
import { DEFAULT_PRODID, foldLine, renderIcs, type IcsEvent } from '../../src/oncall/ics.js';
import { providerFeedEvents } from '../../src/oncall/feed.js';
import type { Schedule } from '../../src/oncall/schedule-schema.js';

const NOW = new Date('2026-03-01T12:34:56.789Z');
const event = (overrides: Partial<IcsEvent> = {}): IcsEvent => ({
  uid: 'shift-1@after-hours-line',
  start: new Date('2026-03-07T13:00:00Z'),
  end: new Date('2026-03-08T12:00:00Z'),
  summary: 'On call: Demo Family Medicine',
  ...overrides,
});

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');
/** Physical lines, split on CRLF; the output ends with CRLF, so the last element is empty. */
const physicalLines = (ics: string): string[] => ics.split('\r\n').slice(0, -1);
/** RFC 5545 §3.1 unfolding: a CRLF followed by one space or tab is removed. */
const unfold = (ics: string): string[] => physicalLines(ics.replace(/\r\n[ \t]/g, ''));

function unescapeText(value: string): string {
  return value.replace(/\\([\\;,nN])/g, (_, ch: string) => (ch === 'n' || ch === 'N' ? '\n' : ch));
}

/** A minimal parser: the properties of each VEVENT (name → raw value) after unfolding. */
function parseEvents(ics: string): Array<Record<string, string>> {
  const events: Array<Record<string, string>> = [];
  let current: Record<string, string> | undefined;
  for (const line of unfold(ics)) {
    if (line === 'BEGIN:VEVENT') current = {};
    else if (line === 'END:VEVENT') {
      if (current) events.push(current);
      current = undefined;
    } else if (current) {
      const colon = line.indexOf(':');
      current[line.slice(0, colon)] = line.slice(colon + 1);
    }
  }
  return events;
}

describe('renderIcs', () => {
  it('renders a calendar with the required properties, UTC times and CRLF line endings', () => {
    const ics = renderIcs({ calendarName: 'Demo Family Medicine on call', events: [event()], now: NOW });
    expect(ics.endsWith('\r\n')).toBe(true);
    expect(ics.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(physicalLines(ics)).toEqual([
      'BEGIN:VCALENDAR',
      'VERSION:2.0',
      `PRODID:${DEFAULT_PRODID}`,
      'CALSCALE:GREGORIAN',
      'METHOD:PUBLISH',
      'X-WR-CALNAME:Demo Family Medicine on call',
      'BEGIN:VEVENT',
      'UID:shift-1@after-hours-line',
      'DTSTAMP:20260301T123456Z',
      'DTSTART:20260307T130000Z',
      'DTEND:20260308T120000Z',
      'SUMMARY:On call: Demo Family Medicine',
      'END:VEVENT',
      'END:VCALENDAR',
    ]);
  });

  it('uses a given PRODID and adds DESCRIPTION only when given', () => {
    const ics = renderIcs({
      calendarName: 'x',
      prodId: '-//Example//Test//EN',
      events: [event(), event({ uid: 'shift-2', description: 'Rotation shift' })],
      now: NOW,
    });
    expect(physicalLines(ics)).toContain('PRODID:-//Example//Test//EN');
    const [first, second] = parseEvents(ics);
    expect(first).not.toHaveProperty('DESCRIPTION');
    expect(second?.DESCRIPTION).toBe('Rotation shift');
    expect(second?.DTSTAMP).toBe('20260301T123456Z');
  });

  it('escapes backslash, semicolon, comma and line breaks in text', () => {
    const ics = renderIcs({
      calendarName: 'Clinic; North, East',
      events: [event({ summary: 'a\\b;c,d\ne\r\nf', description: 'line1\rline2' })],
      now: NOW,
    });
    const lines = unfold(ics);
    expect(lines).toContain('X-WR-CALNAME:Clinic\\; North\\, East');
    expect(lines).toContain('SUMMARY:a\\\\b\\;c\\,d\\ne\\nf');
    expect(lines).toContain('DESCRIPTION:line1\\nline2');
  });

  it('folds long lines at exactly 75 octets with a leading space on continuations', () => {
    const summary = 'x'.repeat(200);
    const ics = renderIcs({ calendarName: 'c', events: [event({ summary })], now: NOW });
    const folded = physicalLines(ics);
    const start = folded.findIndex((l) => l.startsWith('SUMMARY:'));
    expect(folded[start]).toBe(`SUMMARY:${'x'.repeat(67)}`); // 8 + 67 = 75 octets
    expect(folded[start + 1]).toBe(` ${'x'.repeat(74)}`);
    expect(folded[start + 2]).toBe(` ${'x'.repeat(59)}`);
    expect(parseEvents(ics)[0]?.SUMMARY).toBe(summary);
  });

  it('folds UTF-8 safely: never splits a multibyte character, never exceeds 75 octets', () => {
    // 2-, 3- and 4-octet characters (the last a surrogate pair in UTF-16), misaligned by the prefix.
    const summary = 'Dr. Müller — Bereitschaft 🩺 ' + 'é€😀'.repeat(40);
    const calendarName = 'Praxis Ärztehaus Süd – Notdienst ☎️ '.repeat(5);
    const ics = renderIcs({ calendarName, events: [event({ summary, description: summary })], now: NOW });

    const lines = physicalLines(ics);
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      expect(octets(line)).toBeLessThanOrEqual(75);
      // A split surrogate pair would not survive a UTF-8 round trip.
      expect(Buffer.from(line, 'utf8').toString('utf8')).toBe(line);
    }
    // Folding is as late as possible: a line is only broken when the next character would not fit.
    for (let i = 0; i + 1 < lines.length; i++) {
      const next = lines[i + 1];
      if (next?.startsWith(' ')) {
        const nextChar = String.fromCodePoint(next.codePointAt(1) ?? 0);
        expect(octets(lines[i] ?? '') + octets(nextChar)).toBeGreaterThan(75);
      }
    }
    const [parsed] = parseEvents(ics);
    expect(parsed?.SUMMARY).toBe(summary);
    expect(parsed?.DESCRIPTION).toBe(summary);
    expect(unfold(ics)).toContain(`X-WR-CALNAME:${calendarName}`);
  });

  it('round-trips events through a parse-back', () => {
    const events = [
      event({ uid: 'a', summary: 'On call: Demo Family Medicine, Main; St\\Annex' }),
      event({ uid: 'b', start: new Date('2026-11-01T12:00:00Z'), end: new Date('2026-11-02T13:00:00Z'), summary: 'On call' }),
    ];
    const ics = renderIcs({ calendarName: 'Demo', events, now: NOW });
    for (const line of physicalLines(ics)) expect(octets(line)).toBeLessThanOrEqual(75);
    const parsed = parseEvents(ics);
    expect(parsed.map((p) => ({ uid: p.UID, start: p.DTSTART, end: p.DTEND, summary: unescapeText(p.SUMMARY ?? '') }))).toEqual([
      { uid: 'a', start: '20260307T130000Z', end: '20260308T120000Z', summary: events[0]?.summary },
      { uid: 'b', start: '20261101T120000Z', end: '20261102T130000Z', summary: 'On call' },
    ]);
  });

  it('renders an empty calendar', () => {
    const ics = renderIcs({ calendarName: 'Empty', events: [], now: NOW });
    expect(physicalLines(ics)).not.toContain('BEGIN:VEVENT');
    expect(physicalLines(ics).at(-1)).toBe('END:VCALENDAR');
  });

  it('refuses control characters, invalid dates and empty or backwards events', () => {
    const render = (e: IcsEvent): string => renderIcs({ calendarName: 'c', events: [e], now: NOW });
    expect(() => render(event({ summary: 'bell\u0007' }))).toThrow(RangeError);
    expect(() => render(event({ uid: '' }))).toThrow(RangeError);
    expect(() => render(event({ start: new Date(Number.NaN) }))).toThrow(RangeError);
    expect(() => render(event({ end: new Date('2026-03-07T13:00:00Z') }))).toThrow(RangeError);
    expect(() => render(event({ summary: 'half \uD83D pair' }))).toThrow(RangeError);
    expect(() => renderIcs({ calendarName: 'c', events: [], now: new Date(Number.NaN) })).toThrow(RangeError);
    expect(render(event({ summary: 'tab\tok' }))).toContain('SUMMARY:tab\tok');
  });
});

describe('foldLine', () => {
  it('leaves a line of 75 octets alone and folds one of 76', () => {
    expect(foldLine('a'.repeat(75))).toBe('a'.repeat(75));
    expect(foldLine('a'.repeat(76))).toBe(`${'a'.repeat(75)}\r\n a`);
  });

  it('moves a multibyte character that would straddle octet 75 to the next line', () => {
    // 74 ASCII octets + '€' (3 octets) would end at octet 77.
    expect(foldLine(`${'a'.repeat(74)}€b`)).toBe(`${'a'.repeat(74)}\r\n €b`);
  });
});

describe('providerFeedEvents: stable UIDs', () => {
  const schedule: Schedule = {
    id: 'sched-1',
    name: 'Nights',
    timeZone: 'America/New_York',
    rotation: { members: ['p1', 'p2'], length: 'daily', handoffTime: '08:00', startDate: '2026-01-01' },
    // A long override (within the 31-day limit) that started well before the feed's first day.
    overrides: [{ id: 'ovr-1', providerId: 'p9', start: new Date('2026-10-01T12:00:00Z'), end: new Date('2026-10-29T12:00:00Z'), createdAt: new Date('2026-09-01T00:00:00Z') }],
  };
  const feedAt = (now: Date, providerId: string): IcsEvent[] => providerFeedEvents({ schedules: [schedule], providerId, practiceName: 'Demo', now });

  it("a shift in progress keeps its real start and its UID from one download to the next", () => {
    const monday = feedAt(new Date('2026-10-20T00:00:00Z'), 'p9');
    const tuesday = feedAt(new Date('2026-10-21T00:00:00Z'), 'p9');
    expect(monday).toHaveLength(1);
    expect(monday[0]?.start.toISOString()).toBe('2026-10-01T12:00:00.000Z');
    expect(tuesday).toEqual(monday);
    expect(monday[0]?.uid).toBe(`sched-1-ovr-1-${Date.parse('2026-10-01T12:00:00Z')}@after-hours-line`);
  });

  it('rotation shifts keep their UIDs as the feed window moves, and finished shifts drop out', () => {
    const first = feedAt(new Date('2026-11-03T15:00:00Z'), 'p1');
    const later = feedAt(new Date('2026-11-05T15:00:00Z'), 'p1');
    const uids = new Set(first.map((e) => e.uid));
    expect(later.length).toBeGreaterThan(20);
    expect(later.filter((e) => e.end.getTime() <= Date.parse('2026-12-20T00:00:00Z')).every((e) => uids.has(e.uid))).toBe(true);
    expect(later.every((e) => e.end.getTime() > Date.parse('2026-11-05T15:00:00Z'))).toBe(true);
  });

  it('the last event is a whole shift: the same end in every download, never cut at now + 60 days', () => {
    // p1 and p2 alternate daily at 08:00 New York; p1's shift of 2027-01-04 starts 2 h before the first download's horizon.
    const first = feedAt(new Date('2026-11-05T15:00:00Z'), 'p1');
    const later = feedAt(new Date('2026-11-05T21:00:00Z'), 'p1');
    const last = first[first.length - 1];
    expect(last?.start.toISOString()).toBe('2027-01-04T13:00:00.000Z');
    expect(last?.end.toISOString()).toBe('2027-01-05T13:00:00.000Z'); // the next 08:00 hand-off, not now + 60 days (2027-01-04T15:00Z)
    const sameLater = later.find((e) => e.uid === last?.uid);
    expect(sameLater?.end).toEqual(last?.end);
    // Every event runs from one hand-off to another.
    expect(first.every((e) => e.start.getUTCMinutes() === 0 && e.end.getTime() - e.start.getTime() >= 23 * 3_600_000)).toBe(true);
  });

  it('an override reaching past the horizon keeps its own end', () => {
    const withLong: Schedule = {
      ...schedule,
      overrides: [{ id: 'ovr-2', providerId: 'p9', start: new Date('2027-01-01T12:00:00Z'), end: new Date('2027-01-20T12:00:00Z'), createdAt: new Date('2026-09-01T00:00:00Z') }],
    };
    const events = providerFeedEvents({ schedules: [withLong], providerId: 'p9', practiceName: 'Demo', now: new Date('2026-11-05T15:00:00Z') });
    expect(events.map((e) => [e.start.toISOString(), e.end.toISOString()])).toEqual([['2027-01-01T12:00:00.000Z', '2027-01-20T12:00:00.000Z']]);
  });
});
