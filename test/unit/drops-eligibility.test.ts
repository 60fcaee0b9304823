import { describe, expect, it } from 'vitest';
import { assignSendTimes, decide, decideMany, summarise, type RecipientFacts } from '../../src/drops/eligibility.js';
import { DEFAULT_HOLIDAYS } from '../../src/practices/settings.js';
import { progressLine } from '../../src/drops/progress.js';

const NY = 'America/New_York';
// Tuesday 2026-12-01 15:00Z: 10:00 in New York, 07:00 in Los Angeles.
const NOW = new Date('2026-12-01T15:00:00Z');

function facts(over: Partial<RecipientFacts> = {}): RecipientFacts {
  return { patientId: 'p', hasPhone: true, consent: 'granted', consentId: 'c', optedOut: false, timeZone: NY, usState: null, recentDrops: [], recentSms: [], ...over };
}

describe('decide', () => {
  it('excludes for good: opted out first, then revoked or missing consent, then no number', () => {
    expect(decide(facts({ optedOut: true, consent: 'revoked' }), NOW, DEFAULT_HOLIDAYS, NY)).toEqual({ kind: 'exclude', reason: 'opted_out' });
    expect(decide(facts({ consent: 'revoked' }), NOW, DEFAULT_HOLIDAYS, NY)).toEqual({ kind: 'exclude', reason: 'consent_revoked' });
    expect(decide(facts({ consent: 'none' }), NOW, DEFAULT_HOLIDAYS, NY)).toEqual({ kind: 'exclude', reason: 'no_consent' });
    expect(decide(facts({ hasPhone: false }), NOW, DEFAULT_HOLIDAYS, NY)).toEqual({ kind: 'exclude', reason: 'no_phone' });
  });

  it('sends inside the window, defers outside it to the next opening', () => {
    expect(decide(facts(), NOW, DEFAULT_HOLIDAYS, NY)).toEqual({ kind: 'send', at: NOW });
    expect(decide(facts({ timeZone: 'America/Los_Angeles' }), NOW, DEFAULT_HOLIDAYS, NY)).toEqual({
      kind: 'defer',
      reason: 'outside_hours',
      until: new Date('2026-12-01T16:00:00Z'),
    });
  });
});

describe('decideMany', () => {
  it('gives every recipient exactly what decide gives it', () => {
    const zones = [NY, 'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'Pacific/Honolulu'];
    const states = [null, 'FL', 'MD', 'CA'];
    const list: RecipientFacts[] = [];
    for (let i = 0; i < 400; i += 1) {
      list.push(
        facts({
          patientId: `p${i}`,
          timeZone: zones[i % zones.length] ?? NY,
          usState: states[i % states.length] ?? null,
          consent: i % 17 === 0 ? 'none' : i % 19 === 0 ? 'revoked' : 'granted',
          optedOut: i % 23 === 0,
          recentDrops: i % 7 === 0 ? [new Date(NOW.getTime() - (i % 5) * 3_600_000 - 60_000)] : [],
          // Recipients alike in zone, state and recent sends share one verdict: some share SMS times, some do not.
          recentSms: i % 11 === 0 ? [new Date(NOW.getTime() - 86_400_000), new Date(NOW.getTime() - (i % 3) * 3_600_000 - 120_000)] : [],
        }),
      );
    }
    for (const at of [NOW, new Date('2026-12-01T02:30:00Z'), new Date('2026-11-26T15:00:00Z')]) {
      for (const channel of ['rvm', 'sms'] as const) {
        const many = decideMany(list, at, DEFAULT_HOLIDAYS, NY, channel);
        expect(many).toEqual(list.map((f) => decide(f, at, DEFAULT_HOLIDAYS, NY, channel)));
      }
    }
  });
});

describe('summarise', () => {
  it('counts eligible recipients and each reason', () => {
    const report = summarise([
      { kind: 'send', at: NOW },
      { kind: 'defer', reason: 'outside_hours', until: NOW },
      { kind: 'defer', reason: 'outside_hours', until: NOW },
      { kind: 'exclude', reason: 'opted_out' },
    ]);
    expect(report).toEqual({ recipients: 4, eligibleNow: 1, deferred: { outside_hours: 2 }, excluded: { opted_out: 1 } });
  });
});

describe('assignSendTimes', () => {
  it('keeps the campaign rate and never sends anyone before their allowed time', () => {
    const t = NOW.getTime();
    const times = assignSendTimes([new Date(t), new Date(t), new Date(t + 3_600_000), new Date(t)], 30);
    expect(times.map((d) => d.getTime() - t)).toEqual([0, 2_000, 3_600_000, 4_000]);
  });
});

describe('progressLine', () => {
  it('draws the share of recipients with a final state and the count of each status', () => {
    const line = progressLine({ total: 8, done: 6, counts: { delivered: 2, skipped: 4, sent: 2 }, campaign: { state: 'running' } }, 8);
    expect(line).toBe('[######--]  75%  6/8  running  delivered 2, skipped 4, sent 2');
    expect(progressLine({ total: 0, done: 0, counts: {}, campaign: { state: 'completed' } }, 4)).toBe('[####] 100%  0/0  completed  ');
  });
});

describe('decide for SMS: caps per channel and across channels', () => {
  const hoursAgo = (h: number): Date => new Date(NOW.getTime() - h * 3_600_000);

  it('a drop earlier today defers an SMS (one message a day across channels)', () => {
    const d = decide(facts({ recentDrops: [hoursAgo(1)] }), NOW, DEFAULT_HOLIDAYS, NY, 'sms');
    expect(d).toMatchObject({ kind: 'defer', reason: 'daily_cap' });
  });

  it('two SMS in the week defer a third SMS (the SMS cap) though the shared weekly cap of 3 allows it', () => {
    const two = [hoursAgo(72), hoursAgo(48)];
    expect(decide(facts({ recentDrops: two, recentSms: two }), NOW, DEFAULT_HOLIDAYS, NY, 'sms')).toMatchObject({ kind: 'defer', reason: 'sms_weekly_cap' });
    // A drop is not held by the SMS cap…
    expect(decide(facts({ recentDrops: two, recentSms: two }), NOW, DEFAULT_HOLIDAYS, NY, 'rvm')).toEqual({ kind: 'send', at: NOW });
    // …and one SMS and one drop leave room for an SMS.
    expect(decide(facts({ recentDrops: two, recentSms: [two[1] as Date] }), NOW, DEFAULT_HOLIDAYS, NY, 'sms')).toEqual({ kind: 'send', at: NOW });
  });

  it('decideMany gives a recipient with recent SMS their own verdict', () => {
    const two = [hoursAgo(72), hoursAgo(48)];
    const [a, b] = decideMany([facts({ patientId: 'a' }), facts({ patientId: 'b', recentDrops: two, recentSms: two })], NOW, DEFAULT_HOLIDAYS, NY, 'sms');
    expect(a).toEqual({ kind: 'send', at: NOW });
    expect(b).toMatchObject({ kind: 'defer', reason: 'sms_weekly_cap' });
  });
});
