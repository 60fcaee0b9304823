import { describe, expect, it } from 'vitest';
import type { EscalationTier } from '../../src/adapters/db-schema.js';
import { buildPlan, type ProviderPhone } from '../../src/oncall/escalation.js';
import { pageRecipients, pageText } from '../../src/oncall/paging.js';
import { pageNumbers } from '../../src/notify/staff-sender.js';
import { childLegDetails, dialLegOutcome, oncallNumberAttributes, readOncallDial } from '../../src/oncall/dial.js';
import { ACCEPT_CALL, DECLINE_CALL, isMachine, WHISPER_ANSWER_PATH, whisperAnswer, whisperTwiml, type WhisperInput } from '../../src/oncall/whisper.js';
import { parseTwiml, type TwimlVerb } from '../../devtools/simulator/twiml.js';

// ---------------------------------------------------------------------------
// buildPlan
// ---------------------------------------------------------------------------

const FALLBACK = '+12025550199';
const phone = (id: string, number: string, active = true): [string, ProviderPhone] => [id, { id, phone: number, active }];
const PROVIDERS: ReadonlyMap<string, ProviderPhone> = new Map([
  phone('prov-a', '+12025550111'),
  phone('prov-b', '+12025550122'),
  phone('prov-c', '+12025550133'),
  phone('prov-gone', '+12025550144', false),
]);
const schedule = (scheduleId: string, ringSeconds = 20): EscalationTier => ({ target: { kind: 'schedule', scheduleId }, ringSeconds });
const provider = (providerId: string, ringSeconds = 30): EscalationTier => ({ target: { kind: 'provider', providerId }, ringSeconds });

describe('buildPlan', () => {
  it('resolves a schedule tier through the on-call map and a provider tier directly', () => {
    const plan = buildPlan(
      { id: 'pol-1', tiers: [schedule('sch-1', 20), provider('prov-c', 45)], repeat: 1 },
      PROVIDERS,
      new Map([['sch-1', 'prov-b']]),
      FALLBACK,
    );
    expect(plan).toEqual({
      policyId: 'pol-1',
      targets: [
        { tier: 1, providerId: 'prov-b', number: '+12025550122', ringSeconds: 20 },
        { tier: 2, providerId: 'prov-c', number: '+12025550133', ringSeconds: 45 },
      ],
      rounds: 2,
    });
  });

  it('rounds are the policy repeat + 1', () => {
    for (const repeat of [0, 1, 3]) {
      expect(buildPlan({ id: 'pol-1', tiers: [provider('prov-a')], repeat }, PROVIDERS, new Map(), FALLBACK).rounds).toBe(repeat + 1);
    }
  });

  it('skips an inactive provider, keeping the other tiers at their policy position', () => {
    const plan = buildPlan({ id: 'pol-1', tiers: [provider('prov-gone'), provider('prov-a')], repeat: 0 }, PROVIDERS, new Map(), FALLBACK);
    expect(plan.targets).toEqual([{ tier: 2, providerId: 'prov-a', number: '+12025550111', ringSeconds: 30 }]);
    // Inactive through a schedule too.
    const viaSchedule = buildPlan({ id: 'pol-1', tiers: [schedule('sch-1')], repeat: 0 }, PROVIDERS, new Map([['sch-1', 'prov-gone']]), FALLBACK);
    expect(viaSchedule.targets).toEqual([]);
  });

  it('skips a schedule with nobody on call, an unknown schedule and an unknown provider', () => {
    const plan = buildPlan(
      { id: 'pol-1', tiers: [schedule('sch-empty'), schedule('sch-unknown'), provider('prov-nobody'), schedule('sch-1', 15)], repeat: 2 },
      PROVIDERS,
      new Map([
        ['sch-empty', null],
        ['sch-1', 'prov-a'],
      ]),
      FALLBACK,
    );
    expect(plan).toEqual({ policyId: 'pol-1', targets: [{ tier: 4, providerId: 'prov-a', number: '+12025550111', ringSeconds: 15 }], rounds: 3 });
  });

  it('never rings the same number twice in a row within a round (on call and also the next tier)', () => {
    // The demo's shape: a schedule tier, then a named backup who is also on the rotation.
    const plan = buildPlan(
      { id: 'pol-1', tiers: [schedule('sch-1', 20), provider('prov-b', 30), provider('prov-c', 30)], repeat: 1 },
      PROVIDERS,
      new Map([['sch-1', 'prov-b']]),
      FALLBACK,
    );
    expect(plan.targets).toEqual([
      { tier: 1, providerId: 'prov-b', number: '+12025550122', ringSeconds: 20 },
      { tier: 3, providerId: 'prov-c', number: '+12025550133', ringSeconds: 30 },
    ]);
    // Two providers sharing one phone (a shared on-call handset) count as one number.
    const shared = new Map([...PROVIDERS, phone('prov-d', '+12025550133')]);
    const viaShared = buildPlan({ id: 'pol-1', tiers: [provider('prov-c'), provider('prov-d'), provider('prov-a')], repeat: 0 }, shared, new Map(), FALLBACK);
    expect(viaShared.targets.map((t) => t.providerId)).toEqual(['prov-c', 'prov-a']);
    // Not twice in a row is all: A, B, A still rings A again after B, and a skipped tier between does not hide a repeat.
    const abA = buildPlan({ id: 'pol-1', tiers: [provider('prov-a'), provider('prov-b'), provider('prov-a')], repeat: 0 }, PROVIDERS, new Map(), FALLBACK);
    expect(abA.targets.map((t) => t.providerId)).toEqual(['prov-a', 'prov-b', 'prov-a']);
    const gap = buildPlan({ id: 'pol-1', tiers: [provider('prov-a'), provider('prov-gone'), provider('prov-a')], repeat: 0 }, PROVIDERS, new Map(), FALLBACK);
    expect(gap.targets.map((t) => t.tier)).toEqual([1]);
  });

  it('a policy whose tiers all resolve to nobody is an empty plan (not the fallback)', () => {
    const plan = buildPlan({ id: 'pol-1', tiers: [schedule('sch-empty')], repeat: 1 }, PROVIDERS, new Map([['sch-empty', null]]), FALLBACK);
    expect(plan).toEqual({ policyId: 'pol-1', targets: [], rounds: 2 });
  });

  it('with no policy, the fallback number is the only target', () => {
    expect(buildPlan(null, PROVIDERS, new Map(), FALLBACK)).toEqual({
      policyId: null,
      targets: [{ tier: 1, providerId: null, number: FALLBACK, ringSeconds: 25 }],
      rounds: 1,
    });
    expect(buildPlan(null, PROVIDERS, new Map(), null)).toEqual({ policyId: null, targets: [], rounds: 1 });
  });
});

// ---------------------------------------------------------------------------
// Whisper
// ---------------------------------------------------------------------------

const QUERY = `parent=CA${'0123456789abcdef'.repeat(2)}&a=1`;
const whisper = (overrides: Partial<WhisperInput> = {}): WhisperInput => ({
  practiceName: 'Sunrise Pediatrics',
  verifiedCaller: null,
  answeredBy: 'human',
  query: QUERY,
  ...overrides,
});

function said(verbs: TwimlVerb[]): string[] {
  return verbs.flatMap((v): string[] => (v.verb === 'Say' ? [v.text] : v.verb === 'Gather' ? said(v.children) : []));
}

describe('isMachine', () => {
  it("is Twilio's machine and fax answers, never a person or an unknown", () => {
    for (const answeredBy of ['machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax']) expect(isMachine(answeredBy)).toBe(true);
    for (const answeredBy of ['human', 'unknown', '', undefined]) expect(isMachine(answeredBy)).toBe(false);
  });
});

describe('whisperTwiml', () => {
  it('a machine or fax is hung up on, as a machine', () => {
    for (const answeredBy of ['machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax']) {
      const r = whisperTwiml(whisper({ answeredBy, verifiedCaller: { firstName: 'Maria', callbackNumber: '+12025550123' } }));
      expect(r.outcome).toBe('machine');
      expect(parseTwiml(r.twiml)).toEqual([{ verb: 'Hangup' }]);
      expect(r.twiml).not.toContain('Maria');
    }
  });

  it('a person (or unknown) hears the practice, the urgency and how to accept, with no caller details when unverified', () => {
    for (const answeredBy of ['human', 'unknown', undefined]) {
      const r = whisperTwiml(whisper({ answeredBy }));
      expect(r.outcome).toBeNull();
      const verbs = parseTwiml(r.twiml);
      expect(verbs).toHaveLength(1);
      const g = verbs[0];
      if (g?.verb !== 'Gather') throw new Error('expected a <Gather>');
      expect(g).toMatchObject({ action: `${WHISPER_ANSWER_PATH}?${QUERY}`, method: 'POST', numDigits: 1, actionOnEmptyResult: true });
      const text = said(verbs).join(' ');
      expect(text).toContain('Sunrise Pediatrics');
      expect(text).toContain('Urgent after-hours call');
      expect(text).toContain(`Press ${ACCEPT_CALL} to accept, or ${DECLINE_CALL} to decline.`);
      expect(text).not.toMatch(/caller is|calling from/);
      expect(text).not.toMatch(/\d{3}/);
    }
  });

  it("a verified caller's first name and spaced-out callback number are spoken", () => {
    const r = whisperTwiml(whisper({ verifiedCaller: { firstName: 'Maria', callbackNumber: '+12025550123' } }));
    const text = said(parseTwiml(r.twiml));
    expect(text).toContain('The caller is Maria, calling from 2 0 2 5 5 5 0 1 2 3.');
    expect(text.join(' ')).toContain('Urgent after-hours call');
    expect(r.twiml).not.toContain('2025550123');

    const noNumber = said(parseTwiml(whisperTwiml(whisper({ verifiedCaller: { firstName: 'Maria', callbackNumber: null } })).twiml));
    expect(noNumber).toContain('The caller is Maria.');
    expect(noNumber.join(' ')).not.toContain('calling from');
  });
});

describe('whisperAnswer', () => {
  it("'1' accepts, and the document ends without a Hangup so Twilio bridges", () => {
    const r = whisperAnswer('1');
    expect(r.outcome).toBe('accepted');
    const verbs = parseTwiml(r.twiml);
    expect(verbs.some((v) => v.verb === 'Hangup')).toBe(false);
    expect(verbs.map((v) => v.verb)).toEqual(['Say']);
  });

  it("'2' declines and hangs up", () => {
    const r = whisperAnswer('2');
    expect(r.outcome).toBe('declined');
    expect(parseTwiml(r.twiml).at(-1)).toEqual({ verb: 'Hangup' });
  });

  it('any other key, several keys or no key: no response, and hangs up', () => {
    for (const digits of ['3', '0', '*', '#', '12', '', undefined]) {
      const r = whisperAnswer(digits);
      expect(r.outcome).toBe('no_response');
      expect(parseTwiml(r.twiml).at(-1)).toEqual({ verb: 'Hangup' });
    }
  });
});

// ---------------------------------------------------------------------------
// Page text
// ---------------------------------------------------------------------------

describe('pageText', () => {
  const CODE = '048213';
  const ACCESS = '+12025550100';

  it('names the practice, the reference code and the formatted access number, and nothing else numeric', () => {
    const text = pageText('Sunrise Pediatrics', CODE, ACCESS, 0);
    expect(text).toContain('Sunrise Pediatrics');
    expect(text).toContain(CODE);
    expect(text).toContain('202-555-0100');
    expect(text).not.toContain('(reminder)');
    expect(text.replaceAll(CODE, '').replaceAll('202-555-0100', '')).not.toMatch(/\d/);
  });

  it('is marked as a reminder from round 1', () => {
    expect(pageText('Sunrise Pediatrics', CODE, ACCESS, 0)).not.toContain('(reminder)');
    for (const round of [1, 2, 5]) {
      const text = pageText('Sunrise Pediatrics', CODE, ACCESS, round);
      expect(text).toContain('(reminder)');
      expect(text.replaceAll(CODE, '').replaceAll('202-555-0100', '')).not.toMatch(/\d/);
    }
  });

  it('without an access number, still carries the code and no other digits', () => {
    const text = pageText('Sunrise Pediatrics', CODE, undefined, 0);
    expect(text).toContain(CODE);
    expect(text.replaceAll(CODE, '')).not.toMatch(/\d/);
  });
});

// ---------------------------------------------------------------------------
// Reading a finished on-call dial
// ---------------------------------------------------------------------------

describe('readOncallDial', () => {
  it("prefers the recorded whisper outcome whatever DialCallStatus says", () => {
    for (const status of ['completed', 'answered', 'no-answer', 'busy', 'failed', 'canceled', null] as const) {
      expect(readOncallDial(status, 'declined')).toEqual({ connected: false, outcome: 'declined' });
      expect(readOncallDial(status, 'machine')).toEqual({ connected: false, outcome: 'machine' });
      expect(readOncallDial(status, 'no_response')).toEqual({ connected: false, outcome: 'no_response' });
    }
  });

  it('bridges only on the recorded accept of an answered leg', () => {
    expect(readOncallDial('completed', 'accepted')).toEqual({ connected: true, outcome: 'accepted' });
    expect(readOncallDial('answered', 'accepted')).toEqual({ connected: true, outcome: 'accepted' });
    expect(readOncallDial('no-answer', 'accepted')).toEqual({ connected: false, outcome: 'no-answer' });
    expect(readOncallDial(null, 'accepted')).toEqual({ connected: false, outcome: 'unknown' });
    expect(readOncallDial('completed', null)).toEqual({ connected: false, outcome: 'no_response' });
    expect(readOncallDial('busy', null)).toEqual({ connected: false, outcome: 'busy' });
  });

  it("a transfer's leg (no whisper at all) is Twilio's status", () => {
    expect(dialLegOutcome('completed', undefined)).toBe('completed');
    expect(dialLegOutcome(null, undefined)).toBe('unknown');
    expect(dialLegOutcome('no-answer', 'declined')).toBe('declined');
  });

  it('names the child leg in the audit details only when Twilio named it', () => {
    expect(childLegDetails(undefined, undefined, 'busy')).toEqual({});
    expect(childLegDetails('CA' + 'a'.repeat(32), 12, 'accepted')).toEqual({ childCallSid: 'CA' + 'a'.repeat(32), durationSeconds: 12, outcome: 'accepted' });
  });

  it("the dialled <Number> carries the whisper and reports every progress event to the status callback", () => {
    expect(oncallNumberAttributes('CA' + 'b'.repeat(32), 3)).toEqual({
      url: `/twilio/voice/whisper?parent=CA${'b'.repeat(32)}&a=3`,
      method: 'POST',
      machineDetection: 'Enable',
      statusCallback: '/twilio/voice/status',
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      statusCallbackMethod: 'POST',
    });
  });
});

// ---------------------------------------------------------------------------
// Paging: who, and which number
// ---------------------------------------------------------------------------

describe('pageNumbers', () => {
  it("names the provider access line when the practice has one, else its lowest-sorted number", () => {
    expect(pageNumbers('+12025550102', ['+12025550100', '+12025550102'])).toEqual({ named: '+12025550102', from: '+12025550102' });
    expect(pageNumbers(null, ['+12025550102', '+12025550100'])).toEqual({ named: '+12025550100', from: '+12025550100' });
    // An access number that is not one of the practice's numbers is named, but not sent from.
    expect(pageNumbers('+12025550109', ['+12025550100'])).toEqual({ named: '+12025550109', from: '+12025550100' });
    expect(pageNumbers(null, [])).toEqual({ named: undefined, from: undefined });
  });
});

describe('pageRecipients', () => {
  const people = new Map([
    ['a', { id: 'a', active: true, isPracticeAdmin: false }],
    ['b', { id: 'b', active: true, isPracticeAdmin: false }],
    ['boss', { id: 'boss', active: true, isPracticeAdmin: true }],
    ['gone', { id: 'gone', active: false, isPracticeAdmin: true }],
  ]);
  const tiers = [schedule('sch-1'), provider('b')];
  it('pages every tier, then the active admins after the repeats', () => {
    const onCall = new Map([['sch-1', 'a']]);
    expect(pageRecipients({ tiers, onCall, providers: people, round: 0, maxRepeats: 1 })).toEqual({ providerIds: ['a', 'b'], escalateToAdmins: false });
    expect(pageRecipients({ tiers, onCall, providers: people, round: 1, maxRepeats: 1 })).toEqual({ providerIds: ['a', 'b'], escalateToAdmins: false });
    expect(pageRecipients({ tiers, onCall, providers: people, round: 2, maxRepeats: 1 })).toEqual({ providerIds: ['a', 'b', 'boss'], escalateToAdmins: true });
  });
  it('with nobody reachable in the chain, the admins at once', () => {
    expect(pageRecipients({ tiers: null, onCall: new Map(), providers: people, round: 0, maxRepeats: 3 })).toEqual({ providerIds: ['boss'], escalateToAdmins: true });
  });
});
