import { beforeAll, describe, expect, it } from 'vitest';
import { AuditAction } from '../../src/audit/events.js';
import {
  FLOW_PATH,
  MAX_STEPS,
  RECORDING_STATUS_PATH,
  initialState,
  advance,
  type CallState,
  type DialResultStatus,
  type EngineContext,
  type EngineEvent,
  type EngineResult,
  type EscalationPlan,
  type Facts,
  type PracticeContext,
} from '../../src/calls/engine.js';
import { EMERGENCY_DISCLAIMER, EMERGENCY_DISCLAIMER_ES, FAIL_SAFE_DIAL_PATH, failSafe, type StepEvent } from '../../src/calls/fail-safe.js';
import { checkFlowGraph } from '../../src/calls/flow-graph.js';
import { loadFlowFile } from '../../src/calls/flow-loader.js';
import { renderTwiml } from '../../src/calls/render-twiml.js';
import type { Flow, FlowNode } from '../../src/calls/flow-types.js';
import { WHISPER_PATH, type WhisperOutcome } from '../../src/oncall/whisper.js';
import type { WeeklyHours } from '../../src/practices/settings.js';
import { parseTwiml, type DialVerb, type GatherVerb, type NumberNoun, type RecordVerb, type TwimlVerb } from '../../devtools/simulator/twiml.js';

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const FRONT_DESK = '+12025550101';
const FALLBACK = '+12025550199';
const NY = 'America/New_York';
const CALL_SID = `CA${'0123456789abcdef'.repeat(2)}`;
const TIER1 = '+12025550111';
const TIER2 = '+12025550122';
const HOLD_ONCALL_EN = 'Please hold while we connect you to the on-call provider.';
const STILL_TRYING_EN = 'We are still trying to reach the on-call provider. Please stay on the line.';
const GOODBYE_EN = 'Thank you for calling. Goodbye.';

/** Two tiers, tried twice: four attempts in all. */
const PLAN: EscalationPlan = {
  policyId: 'pol-1',
  targets: [
    { tier: 1, providerId: 'prov-a', number: TIER1, ringSeconds: 20 },
    { tier: 2, providerId: 'prov-b', number: TIER2, ringSeconds: 35 },
  ],
  rounds: 2,
};

/** Monday 2026-06-15 19:00 in New York (EDT): closed. */
const AFTER_HOURS = new Date('2026-06-15T23:00:00Z');
/** Monday 2026-06-15 10:00 in New York: open. */
const OPEN_HOURS = new Date('2026-06-15T14:00:00Z');

/** Tuesday 2026-12-01 10:30 in New York (EST). */
const APPOINTMENT = { id: 'appt-42', startsAt: new Date('2026-12-01T15:30:00Z') };
const APPOINTMENT_EN = 'Your next appointment is on Tuesday, December 1 at 10:30 AM.';
const APPOINTMENT_ES = 'Su próxima cita es el martes, 1 de diciembre a las 10:30 a.m.';
const NO_APPOINTMENT_EN = 'We do not have an upcoming appointment on file for you.';
const NO_APPOINTMENT_ES = 'No tenemos una próxima cita registrada para usted.';
const LOCKED_EN = 'For your security, we cannot verify your identity by phone right now.';
const INVALID_EN = 'Sorry, that is not a valid choice.';
const INVALID_ES = 'Lo sentimos, esa opción no es válida.';
const MAIN_MENU_EN = 'For an urgent clinical question, press 1.';
const MAIN_MENU_ES = 'Si tiene una pregunta clínica urgente, oprima 1.';
const VERIFY_FAILED_EN = 'We could not verify your identity.';
const PATIENT_ID = 'pat-7f3a';

const nineToFive = [{ open: '08:00', close: '17:00' }];
const WEEKLY: WeeklyHours = { mon: nineToFive, tue: nineToFive, wed: nineToFive, thu: nineToFive, fri: nineToFive, sat: [], sun: [] };

function practice(overrides: Partial<PracticeContext> = {}): PracticeContext {
  return {
    id: 'prac-1',
    name: 'Sunrise Pediatrics LLC',
    greetingName: 'Sunrise Pediatrics',
    timeZone: NY,
    weeklyHours: WEEKLY,
    holidays: { dates: [], named: [] },
    languages: ['en', 'es'],
    frontDeskNumber: FRONT_DESK,
    fallbackNumber: FALLBACK,
    ...overrides,
  };
}

function ctx(opts: { now?: Date; facts?: Facts; practice?: PracticeContext } = {}): EngineContext {
  return { now: opts.now ?? AFTER_HOURS, callSid: CALL_SID, practice: opts.practice ?? practice(), publicBaseUrl: 'https://ahl.example.test', facts: opts.facts ?? {}, hasCallerId: true };
}

let flow: Flow;
beforeAll(async () => {
  flow = await loadFlowFile('callflows/after-hours.yaml');
});

/** A state waiting at `node`, as if `stepNo` documents had been issued. */
function waitingAt(node: string, extra: Partial<CallState> = {}, f: Flow = flow, p: PracticeContext = practice()): CallState {
  return { ...initialState(f, p), step: 5, waitingAt: node, ...extra };
}

/** A state whose on-call chain at `urgent` has rung attempt `attempt` and waits for its <Dial> action. */
function escalating(attempt: number, plan: EscalationPlan = PLAN, extra: Partial<CallState> = {}): CallState {
  return waitingAt('urgent', { escalation: { node: 'urgent', plan, attempt, base: 0 }, whisperSeq: attempt + 1, ...extra });
}

const withPlan = (plan: EscalationPlan = PLAN): EngineContext => ctx({ facts: { escalation: plan } });
/** At a callback_number node (before every message), the caller presses 1: the number they call from. */
const ownNumber = (state: CallState): TwimlResult & { verbs: TwimlVerb[] } => run(state, { kind: 'callback', node: state.waitingAt ?? '', entry: { kind: 'key', digit: '1' } });
const whisperUrl = (attempt: number): string => `${WHISPER_PATH}?parent=${CALL_SID}&a=${attempt}`;

type TwimlResult = Omit<Extract<EngineResult, { kind: 'verbs' }>, 'verbs'> & { twiml: string };

/** The engine's verbs, rendered as the edge renders them. */
function twimlOf(result: EngineResult): TwimlResult {
  if (result.kind !== 'verbs') throw new Error(`expected verbs, engine asked for ${result.fact}`);
  const { verbs, ...rest } = result;
  return { ...rest, twiml: renderTwiml(verbs) };
}

function run(state: CallState, event: EngineEvent, c: EngineContext = ctx(), f: Flow = flow): TwimlResult & { verbs: TwimlVerb[] } {
  const result = twimlOf(advance(f, state, event, c));
  return { ...result, verbs: parseTwiml(result.twiml) };
}

interface Spoken {
  text: string;
  voice: string | undefined;
  language: string | undefined;
}

/** Every <Say>, including those nested in a <Gather>, in document order. */
function spoken(verbs: TwimlVerb[]): Spoken[] {
  return verbs.flatMap((v): Spoken[] => {
    if (v.verb === 'Say') return [{ text: v.text, voice: v.voice, language: v.language }];
    if (v.verb === 'Gather') return spoken(v.children);
    return [];
  });
}

const texts = (verbs: TwimlVerb[]): string[] => spoken(verbs).map((s) => s.text);

function only<V extends TwimlVerb['verb']>(verbs: TwimlVerb[], verb: V): Extract<TwimlVerb, { verb: V }> {
  const found = verbs.filter((v): v is Extract<TwimlVerb, { verb: V }> => v.verb === verb);
  expect(found).toHaveLength(1);
  return found[0] as Extract<TwimlVerb, { verb: V }>;
}

const gather = (verbs: TwimlVerb[]): GatherVerb => only(verbs, 'Gather');
const dial = (verbs: TwimlVerb[]): DialVerb => only(verbs, 'Dial');
const record = (verbs: TwimlVerb[]): RecordVerb => only(verbs, 'Record');
const actions = (events: StepEvent[]): string[] => events.map((e) => e.action);
/** Every transition, in order: consecutive ones are one event's `steps`. */
const transitions = (events: StepEvent[]): unknown[] =>
  events.filter((e) => e.action === AuditAction.CallTransition).flatMap((e) => e.details?.['steps'] as unknown[]);

function numberNoun(d: DialVerb): NumberNoun {
  expect(d.nouns).toHaveLength(1);
  const noun = d.nouns[0];
  if (noun?.noun !== 'Number') throw new Error('expected a <Number>');
  return noun;
}

const dialNumber = (d: DialVerb): string => numberNoun(d).number;

const say = (id: string, next: string, text: string): FlowNode => ({ id, kind: 'say', prompt: { text: { en: text } }, next });
const hangup = (id: string): FlowNode => ({ id, kind: 'hangup', prompt: { text: { en: 'Goodbye.' } } });

function handFlow(start: string, nodes: FlowNode[]): Flow {
  return { id: 'hand-built', description: 'test', start, file: 'hand-built.yaml', nodes: Object.fromEntries(nodes.map((n) => [n.id, n])) };
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

describe('start', () => {
  it('after hours: greeting, the disclaimer in English then Spanish, then the language choice', () => {
    const r = run(initialState(flow, practice()), { kind: 'start' });
    expect(r.verbs.map((v) => v.verb)).toEqual(['Say', 'Say', 'Say', 'Gather']);
    expect(r.verbs.slice(0, 3)).toEqual([
      { verb: 'Say', text: 'Thank you for calling Sunrise Pediatrics.', voice: 'Polly.Joanna', language: 'en-US', loop: 1 },
      { verb: 'Say', text: EMERGENCY_DISCLAIMER, voice: 'Polly.Joanna', language: 'en-US', loop: 1 },
      { verb: 'Say', text: EMERGENCY_DISCLAIMER_ES, voice: 'Polly.Lupe', language: 'es-US', loop: 1 },
    ]);
    const g = gather(r.verbs);
    expect(g.action).toBe(`${FLOW_PATH}?s=1&n=language`);
    expect(g.numDigits).toBe(1);
    expect(g.actionOnEmptyResult).toBe(true);
    expect(spoken(g.children)).toEqual([
      { text: 'For English, press 1.', voice: 'Polly.Joanna', language: 'en-US' },
      { text: 'Para español, oprima 2.', voice: 'Polly.Lupe', language: 'es-US' },
    ]);
    expect(r.state).toMatchObject({ step: 1, waitingAt: 'language', done: false, lang: 'en' });
    expect(transitions(r.events)).toContainEqual({ from: 'hours', to: 'language', via: 'closed' });
    expect(actions(r.events)).not.toContain(AuditAction.CallDial);
    // The transitions of one webhook, one after another, are one audit event listing them in order.
    expect(r.events).toEqual([
      {
        action: AuditAction.CallTransition,
        leg: 'parent',
        details: {
          steps: [
            { from: 'greeting', to: 'disclaimer', via: 'next' },
            { from: 'disclaimer', to: 'hours', via: 'next' },
            { from: 'hours', to: 'language', via: 'closed' },
          ],
        },
      },
    ]);
  });

  it('in open hours: forwards to the front desk', () => {
    const r = run(initialState(flow, practice()), { kind: 'start' }, ctx({ now: OPEN_HOURS }));
    expect(texts(r.verbs)).toContain(EMERGENCY_DISCLAIMER);
    expect(texts(r.verbs)).toContain('Please hold while we connect you to the front desk.');
    const d = dial(r.verbs);
    expect(dialNumber(d)).toBe(FRONT_DESK);
    expect(d.action).toBe(`${FLOW_PATH}?s=1&n=front_desk`);
    expect(r.verbs.some((v) => v.verb === 'Gather')).toBe(false);
    expect(r.state.waitingAt).toBe('front_desk');
    expect(r.events).toContainEqual({ action: AuditAction.CallDial, leg: 'parent', details: { node: 'front_desk', target: 'front_desk' } });
    // A transfer is a plain dial: no whisper, no machine detection, the node's own timeout.
    expect(d.timeout).toBe(25);
    expect(numberNoun(d).url).toBeUndefined();
    expect(numberNoun(d).machineDetection).toBeUndefined();
  });

  it('on a practice holiday during opening hours: no front desk, the language choice', () => {
    const p = practice({ holidays: { dates: ['2026-06-15'], named: [] } });
    const r = run(initialState(flow, p), { kind: 'start' }, ctx({ now: OPEN_HOURS, practice: p }));
    expect(r.verbs.some((v) => v.verb === 'Dial')).toBe(false);
    expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=1&n=language`);
    expect(transitions(r.events)).toContainEqual({ from: 'hours', to: 'language', via: 'holiday' });
  });

  it('a single-language practice skips the language choice', () => {
    const p = practice({ languages: ['en'] });
    const r = run(initialState(flow, p), { kind: 'start' }, ctx({ practice: p }));
    expect(texts(r.verbs).filter((t) => t === EMERGENCY_DISCLAIMER)).toHaveLength(1);
    expect(texts(r.verbs)).not.toContain(EMERGENCY_DISCLAIMER_ES);
    expect(texts(r.verbs)).not.toContain('For English, press 1.');
    const g = gather(r.verbs);
    expect(g.action).toBe(`${FLOW_PATH}?s=1&n=main_menu`);
    expect(texts(g.children)[0]).toContain(MAIN_MENU_EN);
    expect(r.state).toMatchObject({ waitingAt: 'main_menu', lang: 'en' });
    expect(transitions(r.events)).toContainEqual({ from: 'language', to: 'main_menu', via: 'single_language' });
  });

  it('a Spanish-only practice runs the whole call in Spanish without asking', () => {
    const p = practice({ languages: ['es'] });
    const r = run(initialState(flow, p), { kind: 'start' }, ctx({ practice: p }));
    expect(spoken(r.verbs)[0]).toEqual({ text: 'Gracias por llamar a Sunrise Pediatrics.', voice: 'Polly.Lupe', language: 'es-US' });
    expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=1&n=main_menu`);
    expect(texts(gather(r.verbs).children)[0]).toContain(MAIN_MENU_ES);
    expect(r.state.lang).toBe('es');
  });

  it('fills {practice_name} and {callback_number} placeholders', () => {
    const f = handFlow('hello', [say('hello', 'bye', 'This is {practice_name}. Call {callback_number}.'), hangup('bye')]);
    const r = run(initialState(f, practice()), { kind: 'start' }, ctx(), f);
    expect(texts(r.verbs)[0]).toBe('This is Sunrise Pediatrics. Call 202-555-0101.');
    expect(r.state.done).toBe(true);
    expect(r.verbs.at(-1)).toEqual({ verb: 'Hangup' });
  });
});

// ---------------------------------------------------------------------------
// Step counter
// ---------------------------------------------------------------------------

describe('step counter', () => {
  it('increments with every document, and every action URL carries it', () => {
    const s0 = initialState(flow, practice());
    const r1 = run(s0, { kind: 'start' });
    expect(r1.state.step).toBe(1);
    expect(gather(r1.verbs).action).toBe(`${FLOW_PATH}?s=1&n=language`);

    const r2 = run(r1.state, { kind: 'gather', node: 'language', digits: '1' });
    expect(r2.state.step).toBe(2);
    expect(gather(r2.verbs).action).toBe(`${FLOW_PATH}?s=2&n=main_menu`);

    const r3 = run(r2.state, { kind: 'gather', node: 'main_menu', digits: '0' });
    expect(r3.state.step).toBe(3);
    expect(gather(r3.verbs).action).toBe(`${FLOW_PATH}?s=3&n=main_menu`);

    const r4 = run(r3.state, { kind: 'gather', node: 'main_menu', digits: '2' });
    expect(r4.state.step).toBe(4);
    expect(gather(r4.verbs).action).toBe(`${FLOW_PATH}?s=4&n=message_callback`);

    const r5 = ownNumber(r4.state);
    expect(r5.state.step).toBe(5);
    expect(record(r5.verbs).action).toBe(`${FLOW_PATH}?s=5&n=message`);
  });

  it('does not change the state it is given', () => {
    const s = waitingAt('main_menu');
    const copy = structuredClone(s);
    run(s, { kind: 'gather', node: 'main_menu', digits: '7' });
    expect(s).toEqual(copy);
  });
});

// ---------------------------------------------------------------------------
// Menus and language
// ---------------------------------------------------------------------------

describe('menu', () => {
  it('a mapped key goes to its node', () => {
    const r = run(waitingAt('main_menu'), { kind: 'gather', node: 'main_menu', digits: '1' }, withPlan());
    expect(texts(r.verbs)).toEqual([HOLD_ONCALL_EN]);
    const d = dial(r.verbs);
    expect(dialNumber(d)).toBe(TIER1);
    expect(d.action).toBe(`${FLOW_PATH}?s=6&n=urgent`);
    expect(r.state.waitingAt).toBe('urgent');
    expect(transitions(r.events)).toEqual([{ from: 'main_menu', to: 'urgent', via: 'key 1' }]);
    expect(r.events).toContainEqual({
      action: AuditAction.CallDial,
      leg: 'parent',
      subjectId: 'prov-a',
      details: { node: 'urgent', target: 'on_call', urgency: 'urgent', tier: 1, round: 0, attempt: 0 },
    });
  });

  it("'0' repeats the menu without using a retry", () => {
    // One retry left: if '0' counted as a wrong key, this would be the last and go to on_exhausted.
    const r = run(waitingAt('main_menu', { attempts: { main_menu: 2 } }), { kind: 'gather', node: 'main_menu', digits: '0' });
    const g = gather(r.verbs);
    expect(g.action).toBe(`${FLOW_PATH}?s=6&n=main_menu`);
    expect(texts(g.children)[0]).toContain(MAIN_MENU_EN);
    expect(texts(r.verbs)).not.toContain(INVALID_EN);
    expect(r.verbs.some((v) => v.verb === 'Record')).toBe(false);
    expect(r.state.attempts.main_menu).toBe(2);
  });

  it('a wrong key speaks the invalid prompt, then the menu again, and counts a retry', () => {
    const r = run(waitingAt('main_menu'), { kind: 'gather', node: 'main_menu', digits: '7' });
    expect(r.verbs[0]).toMatchObject({ verb: 'Say', text: INVALID_EN });
    expect(r.verbs[1]).toMatchObject({ verb: 'Gather', action: `${FLOW_PATH}?s=6&n=main_menu` });
    expect(r.state.attempts.main_menu).toBe(1);
  });

  it('a timeout replays the menu without the invalid prompt, and counts a retry', () => {
    const r = run(waitingAt('main_menu'), { kind: 'gather', node: 'main_menu', digits: null });
    expect(texts(r.verbs)).not.toContain(INVALID_EN);
    expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=6&n=main_menu`);
    expect(r.state.attempts.main_menu).toBe(1);
  });

  it('more than one key is a wrong key', () => {
    const r = run(waitingAt('main_menu'), { kind: 'gather', node: 'main_menu', digits: '12' });
    expect(texts(r.verbs)[0]).toBe(INVALID_EN);
    expect(r.state.waitingAt).toBe('main_menu');
  });

  it('when the retries are used up, goes to on_exhausted', () => {
    let s = waitingAt('main_menu');
    for (let i = 1; i <= 2; i += 1) {
      const r = run(s, { kind: 'gather', node: 'main_menu', digits: '8' });
      expect(r.state.waitingAt).toBe('main_menu');
      s = r.state;
    }
    const last = run(s, { kind: 'gather', node: 'main_menu', digits: '8' });
    expect(texts(last.verbs)).not.toContain(INVALID_EN);
    // The message, after the callback number is asked for.
    expect(gather(last.verbs).action).toBe(`${FLOW_PATH}?s=8&n=message_callback`);
    expect(last.state.waitingAt).toBe('message_callback');
    expect(transitions(last.events)).toContainEqual({ from: 'main_menu', to: 'message_callback', via: 'invalid' });

    const timedOut = run(waitingAt('main_menu', { attempts: { main_menu: 2 } }), { kind: 'gather', node: 'main_menu', digits: null });
    expect(transitions(timedOut.events)).toContainEqual({ from: 'main_menu', to: 'message_callback', via: 'timeout' });
  });

  it('a menu entered afresh from another node gets all its retries again', () => {
    // Two wrong keys at the appointments menu, then 9 (main menu), then 3 (back to it).
    let s = waitingAt('appointments_menu');
    for (let i = 0; i < 2; i += 1) s = run(s, { kind: 'gather', node: 'appointments_menu', digits: '7' }).state;
    expect(s.attempts.appointments_menu).toBe(2);
    s = run(s, { kind: 'gather', node: 'appointments_menu', digits: '9' }).state;
    expect(s.waitingAt).toBe('main_menu');
    const back = run(s, { kind: 'gather', node: 'main_menu', digits: '3' });
    expect(back.state.attempts.appointments_menu).toBe(0);
    // A wrong key now is the first of three again, not the last.
    const wrong = run(back.state, { kind: 'gather', node: 'appointments_menu', digits: '7' });
    expect(wrong.state.waitingAt).toBe('appointments_menu');
    expect(texts(wrong.verbs)[0]).toBe(INVALID_EN);
  });

  it('a re-prompt of the same menu (wrong key, silence, 0) keeps its count', () => {
    const r = run(waitingAt('main_menu', { attempts: { main_menu: 1 } }), { kind: 'gather', node: 'main_menu', digits: null });
    expect(r.state.attempts.main_menu).toBe(2);
  });

  it('a webhook that does not fit the node asks again where the call is', () => {
    const r = run(waitingAt('main_menu'), { kind: 'dial_done', node: 'main_menu', status: 'completed' });
    expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=6&n=main_menu`);
    expect(r.state.attempts).toEqual({});
  });
});

describe('language', () => {
  it("'2' switches the rest of the call to Spanish", () => {
    const r = run(waitingAt('language'), { kind: 'gather', node: 'language', digits: '2' });
    expect(r.state.lang).toBe('es');
    const g = gather(r.verbs);
    expect(g.action).toBe(`${FLOW_PATH}?s=6&n=main_menu`);
    expect(spoken(g.children)).toEqual([expect.objectContaining({ voice: 'Polly.Lupe', language: 'es-US' })]);
    expect(texts(g.children)[0]).toContain(MAIN_MENU_ES);
    expect(transitions(r.events)).toContainEqual({ from: 'language', to: 'main_menu', via: 'language es' });

    const wrong = run(r.state, { kind: 'gather', node: 'main_menu', digits: '7' });
    expect(spoken(wrong.verbs)[0]).toEqual({ text: INVALID_ES, voice: 'Polly.Lupe', language: 'es-US' });

    const cb = run(r.state, { kind: 'gather', node: 'main_menu', digits: '2' });
    expect(texts(gather(cb.verbs).children)[0]).toMatch(/^Para que le devolvamos la llamada al número desde el que llama, oprima 1/);
    const vm = ownNumber(cb.state);
    expect(texts(vm.verbs)[0]).toMatch(/^Por favor, deje un mensaje para el consultorio/);
  });

  it("'1', no key or a wrong key: English", () => {
    for (const digits of ['1', null, '7']) {
      const r = run(waitingAt('language', { lang: 'es' }), { kind: 'gather', node: 'language', digits });
      expect(r.state.lang).toBe('en');
      expect(spoken(gather(r.verbs).children)[0]).toMatchObject({ voice: 'Polly.Joanna', language: 'en-US' });
    }
  });
});

// ---------------------------------------------------------------------------
// Verification and disclosure
// ---------------------------------------------------------------------------

describe('verify and disclose', () => {
  const match: EngineEvent = { kind: 'verify', node: 'verify_caller', outcome: 'match', patientId: PATIENT_ID };

  it('asks for the next appointment only after a match, then speaks it in the practice time zone', () => {
    const s = waitingAt('verify_caller', { verifyTries: 1 });
    const needs = advance(flow, s, match, ctx());
    expect(needs).toEqual({ kind: 'needs', fact: 'nextAppointment', patientId: PATIENT_ID });
    // Still asking while the fact is missing.
    expect(advance(flow, s, match, ctx({ facts: {} })).kind).toBe('needs');

    const r = run(s, match, ctx({ facts: { nextAppointment: APPOINTMENT } }));
    expect(r.state.verifiedPatientId).toBe(PATIENT_ID);
    expect(r.verbs[0]).toEqual({ verb: 'Say', text: APPOINTMENT_EN, voice: 'Polly.Joanna', language: 'en-US', loop: 1 });
    expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=6&n=after_disclosure`);
    expect(r.events).toContainEqual({
      action: AuditAction.VerificationSucceeded,
      leg: 'parent',
      subjectId: PATIENT_ID,
      details: { node: 'verify_caller', try: 2 },
    });
    expect(r.events).toContainEqual({
      action: AuditAction.Disclosure,
      leg: 'parent',
      subjectId: PATIENT_ID,
      details: { node: 'next_appointment', what: 'next_appointment', appointmentId: APPOINTMENT.id },
    });
    expect(actions(r.events).indexOf(AuditAction.VerificationSucceeded)).toBeLessThan(actions(r.events).indexOf(AuditAction.Disclosure));
  });

  it('formats the time on the practice wall clock, not UTC', () => {
    const p = practice({ timeZone: 'America/Los_Angeles' });
    const r = run(waitingAt('verify_caller', {}, flow, p), match, ctx({ practice: p, facts: { nextAppointment: APPOINTMENT } }));
    expect(texts(r.verbs)[0]).toBe('Your next appointment is on Tuesday, December 1 at 7:30 AM.');
  });

  it('speaks the appointment in Spanish to a Spanish caller', () => {
    const r = run(waitingAt('verify_caller', { lang: 'es' }), match, ctx({ facts: { nextAppointment: APPOINTMENT } }));
    expect(r.verbs[0]).toMatchObject({ verb: 'Say', voice: 'Polly.Lupe', language: 'es-US' });
    expect(texts(r.verbs)[0]).toMatch(/^Su próxima cita es el martes, 1 de diciembre a las 10:30 a\.m\./);
  });

  // es-US formats the time as "10:30 a.m.": the sentence must not end "a.m..".
  it('ends the Spanish sentence with a single period', () => {
    const r = run(waitingAt('verify_caller', { lang: 'es' }), match, ctx({ facts: { nextAppointment: APPOINTMENT } }));
    expect(texts(r.verbs)[0]).toBe(APPOINTMENT_ES);
  });

  it('says there is no upcoming appointment when there is none', () => {
    const en = run(waitingAt('verify_caller'), match, ctx({ facts: { nextAppointment: null } }));
    expect(texts(en.verbs)[0]).toBe(NO_APPOINTMENT_EN);
    expect(en.events).toContainEqual(expect.objectContaining({ action: AuditAction.Disclosure, subjectId: PATIENT_ID, details: expect.objectContaining({ appointmentId: null }) }));
    const es = run(waitingAt('verify_caller', { lang: 'es' }), match, ctx({ facts: { nextAppointment: null } }));
    expect(texts(es.verbs)[0]).toBe(NO_APPOINTMENT_ES);
  });

  it('a match without a patient id is not a verification', () => {
    const r = run(waitingAt('verify_caller'), { kind: 'verify', node: 'verify_caller', outcome: 'match' }, ctx({ facts: { nextAppointment: APPOINTMENT } }));
    expect(r.state.verifiedPatientId).toBeNull();
    expect(actions(r.events)).not.toContain(AuditAction.Disclosure);
    expect(texts(r.verbs).join(' ')).not.toContain('appointment is on');
  });

  it("'no_match' counts tries with the retry prompt, and after max_tries takes the failure branch", () => {
    const noMatch: EngineEvent = { kind: 'verify', node: 'verify_caller', outcome: 'no_match', lockedNow: false };
    const first = run(waitingAt('verify_caller'), noMatch);
    expect(first.state.verifyTries).toBe(1);
    const g = gather(first.verbs);
    expect(g.action).toBe(`${FLOW_PATH}?s=6&n=verify_caller`);
    expect(g.finishOnKey).toBe('#');
    expect(texts(g.children)[0]).toMatch(/^Sorry, we could not verify that entry\./);
    expect(first.events).toContainEqual({
      action: AuditAction.VerificationFailed,
      leg: 'parent',
      details: { node: 'verify_caller', try: 1, reason: 'no_match', lockedOut: false },
    });

    const second = run(first.state, noMatch);
    expect(second.state.verifyTries).toBe(2);
    expect(second.state.waitingAt).toBe('verify_caller');

    const third = run(second.state, noMatch, ctx({ facts: { nextAppointment: APPOINTMENT } }));
    expect(third.state.verifiedPatientId).toBeNull();
    expect(texts(third.verbs)[0]).toMatch(new RegExp(`^${VERIFY_FAILED_EN}`));
    expect(gather(third.verbs).action).toBe(`${FLOW_PATH}?s=8&n=main_menu`);
    expect(transitions(third.events)).toContainEqual({ from: 'verify_caller', to: 'verify_failed', via: 'failed' });
    expect(actions(third.events)).not.toContain(AuditAction.Disclosure);
  });

  it('lockedNow speaks the lockout sentence and takes the failure branch at once', () => {
    const r = run(waitingAt('verify_caller'), { kind: 'verify', node: 'verify_caller', outcome: 'no_match', lockedNow: true });
    expect(texts(r.verbs)[0]).toBe(LOCKED_EN);
    expect(texts(r.verbs)[1]).toMatch(new RegExp(`^${VERIFY_FAILED_EN}`));
    expect(r.state.waitingAt).toBe('main_menu');
    expect(transitions(r.events)).toContainEqual({ from: 'verify_caller', to: 'verify_failed', via: 'locked' });
    expect(r.events).toContainEqual(expect.objectContaining({ action: AuditAction.VerificationFailed, details: expect.objectContaining({ lockedOut: true }) }));
  });

  it("'locked' is refused without counting a try, and takes the failure branch", () => {
    const r = run(waitingAt('verify_caller'), { kind: 'verify', node: 'verify_caller', outcome: 'locked' });
    expect(texts(r.verbs)[0]).toBe(LOCKED_EN);
    expect(r.events).toContainEqual({ action: AuditAction.VerificationRefused, leg: 'parent', details: { node: 'verify_caller', reason: 'locked' } });
    expect(actions(r.events)).not.toContain(AuditAction.VerificationFailed);
    expect(r.state.verifyTries).toBe(0);
    expect(r.state.waitingAt).toBe('main_menu');
    expect(transitions(r.events)).toContainEqual({ from: 'verify_caller', to: 'verify_failed', via: 'locked' });
  });

  it("'no_caller_id' is refused the same way", () => {
    const r = run(waitingAt('verify_caller', { lang: 'es' }), { kind: 'verify', node: 'verify_caller', outcome: 'no_caller_id' });
    expect(spoken(r.verbs)[0]).toMatchObject({ text: 'Por su seguridad, no podemos verificar su identidad por teléfono en este momento.', voice: 'Polly.Lupe' });
    expect(r.events).toContainEqual(expect.objectContaining({ action: AuditAction.VerificationRefused, details: { node: 'verify_caller', reason: 'no_caller_id' } }));
  });

  describe('at most max_tries a call, across every visit to verify', () => {
    const TRIES_USED_EN = 'You have used all the tries to verify your identity on this call.';

    it('coming back to verify after three failed tries: no new prompt, straight to the failure branch', () => {
      // Three wrong entries, then the caller goes back round: main menu 3, then 1.
      const noMatch: EngineEvent = { kind: 'verify', node: 'verify_caller', outcome: 'no_match', lockedNow: false };
      let s = waitingAt('verify_caller');
      for (let i = 0; i < 3; i += 1) s = run(s, noMatch).state;
      expect(s.waitingAt).toBe('main_menu');
      s = run(s, { kind: 'gather', node: 'main_menu', digits: '3' }).state;
      const back = run(s, { kind: 'gather', node: 'appointments_menu', digits: '1' });
      expect(back.verbs.some((v) => v.verb === 'Gather' && (v.action ?? '').includes('n=verify_caller'))).toBe(false);
      expect(texts(back.verbs)[0]).toBe(TRIES_USED_EN);
      expect(texts(back.verbs)[1]).toMatch(new RegExp(`^${VERIFY_FAILED_EN}`));
      expect(back.state.waitingAt).toBe('main_menu');
      expect(back.events).toContainEqual({
        action: AuditAction.VerificationRefused,
        leg: 'parent',
        details: { node: 'verify_caller', reason: 'tries_exhausted', tries: 3 },
      });
      expect(transitions(back.events)).toContainEqual({ from: 'verify_caller', to: 'verify_failed', via: 'tries_exhausted' });
    });

    it('a match beyond the tries is not accepted, whatever the edge says', () => {
      const r = run(waitingAt('verify_caller', { verifyTries: 3 }), match, ctx({ facts: { nextAppointment: APPOINTMENT } }));
      expect(r.state.verifiedPatientId).toBeNull();
      expect(actions(r.events)).not.toContain(AuditAction.VerificationSucceeded);
      expect(actions(r.events)).not.toContain(AuditAction.Disclosure);
      expect(texts(r.verbs)[0]).toBe(TRIES_USED_EN);
    });

    it("the edge's 'exhausted' outcome takes the failure branch without counting a try", () => {
      const r = run(waitingAt('verify_caller', { verifyTries: 3, lang: 'es' }), { kind: 'verify', node: 'verify_caller', outcome: 'exhausted' });
      expect(spoken(r.verbs)[0]).toMatchObject({ text: 'Ha usado todos los intentos para verificar su identidad en esta llamada.', voice: 'Polly.Lupe' });
      expect(r.state.verifyTries).toBe(3);
      expect(r.state.waitingAt).toBe('main_menu');
    });

    it('tries used on an earlier visit count: one failure left after two, then the failure branch', () => {
      const s = waitingAt('appointments_menu', { verifyTries: 2 });
      const entered = run(s, { kind: 'gather', node: 'appointments_menu', digits: '1' });
      // Entered afresh from the menu: the first prompt, not the retry prompt.
      expect(texts(gather(entered.verbs).children)[0]).toMatch(/^Please enter your date of birth/);
      const failed = run(entered.state, { kind: 'verify', node: 'verify_caller', outcome: 'no_match', lockedNow: false });
      expect(failed.events).toContainEqual(expect.objectContaining({ action: AuditAction.VerificationFailed, details: expect.objectContaining({ try: 3 }) }));
      expect(transitions(failed.events)).toContainEqual({ from: 'verify_caller', to: 'verify_failed', via: 'failed' });
    });
  });

  it('entering verify speaks the first prompt with a # finish key', () => {
    const r = run(waitingAt('appointments_menu'), { kind: 'gather', node: 'appointments_menu', digits: '1' });
    const g = gather(r.verbs);
    expect(g.finishOnKey).toBe('#');
    expect(g.numDigits).toBeUndefined();
    expect(texts(g.children)[0]).toMatch(/^Please enter your date of birth/);
  });
});

describe('defense in depth: disclose without verify', () => {
  // Refused by the loader; built by hand to reach the engine anyway.
  const unsafe = handFlow('hello', [
    say('hello', 'leak', 'Hello.'),
    { id: 'leak', kind: 'disclose', what: 'next_appointment', next: 'bye' },
    hangup('bye'),
  ]);

  it('the loader would refuse this flow', () => {
    expect(checkFlowGraph(unsafe).map((p) => p.node)).toContain('leak');
  });

  it('speaks no appointment, emits call.disclosure_refused and never asks for facts', () => {
    const state = initialState(unsafe, practice());
    for (const facts of [{}, { nextAppointment: APPOINTMENT }, { nextAppointment: null }] satisfies Facts[]) {
      const result = advance(unsafe, state, { kind: 'start' }, ctx({ facts }));
      expect(result.kind).toBe('verbs');
      const r = twimlOf(result);
      const said = texts(parseTwiml(r.twiml));
      expect(said).toEqual(['Hello.', 'Goodbye.']);
      expect(r.twiml).not.toMatch(/appointment|December|10:30/);
      expect(r.events).toContainEqual({ action: AuditAction.DisclosureRefused, leg: 'parent', details: { node: 'leak', reason: 'not_verified' } });
      expect(actions(r.events)).not.toContain(AuditAction.Disclosure);
      expect(r.events.some((e) => e.subjectId !== undefined)).toBe(false);
      expect(transitions(r.events)).toContainEqual({ from: 'leak', to: 'bye', via: 'refused' });
    }
  });
});

// ---------------------------------------------------------------------------
// Dial and voicemail
// ---------------------------------------------------------------------------

describe('transfer', () => {
  it('completed or answered → next', () => {
    for (const status of ['completed', 'answered'] as const) {
      const r = run(waitingAt('front_desk'), { kind: 'dial_done', node: 'front_desk', status });
      expect(r.verbs).toEqual([{ verb: 'Say', text: GOODBYE_EN, voice: 'Polly.Joanna', language: 'en-US', loop: 1 }, { verb: 'Hangup' }]);
      expect(r.state).toMatchObject({ done: true, waitingAt: null });
      expect(transitions(r.events)).toEqual([{ from: 'front_desk', to: 'goodbye', via: `dial ${status}` }]);
      expect(r.effects).toEqual([]);
    }
  });

  it('no-answer, busy, failed, canceled or no status → on_fail', () => {
    for (const status of ['no-answer', 'busy', 'failed', 'canceled', null] as const) {
      const r = run(waitingAt('front_desk'), { kind: 'dial_done', node: 'front_desk', status });
      expect(r.state.waitingAt).toBe('language');
      expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=6&n=language`);
      expect(transitions(r.events)).toEqual([{ from: 'front_desk', to: 'language', via: `dial ${status ?? 'unknown'}` }]);
      expect(r.effects).toEqual([]);
    }
  });

  it('with no front desk number, goes straight to on_fail without a Dial', () => {
    const p = practice({ frontDeskNumber: null });
    const r = run(initialState(flow, p), { kind: 'start' }, ctx({ now: OPEN_HOURS, practice: p }));
    expect(r.verbs.some((v) => v.verb === 'Dial')).toBe(false);
    expect(gather(r.verbs).action).toBe(`${FLOW_PATH}?s=1&n=language`);
    expect(transitions(r.events)).toContainEqual({ from: 'front_desk', to: 'language', via: 'no_number' });
  });
});

describe('dial_oncall: escalation chain', () => {
  const pressOne: EngineEvent = { kind: 'gather', node: 'main_menu', digits: '1' };
  const done = (status: DialResultStatus | null, whisper?: WhisperOutcome | null): EngineEvent =>
    whisper === undefined ? { kind: 'dial_done', node: 'urgent', status } : { kind: 'dial_done', node: 'urgent', status, whisper };

  it('asks for the escalation plan, then rings tier 1 with the whisper and machine detection', () => {
    expect(advance(flow, waitingAt('main_menu'), pressOne, ctx())).toEqual({ kind: 'needs', fact: 'escalation', policy: null });

    const r = run(waitingAt('main_menu'), pressOne, withPlan());
    expect(r.verbs.map((v) => v.verb)).toEqual(['Say', 'Dial']);
    expect(texts(r.verbs)).toEqual([HOLD_ONCALL_EN]);
    const d = dial(r.verbs);
    expect(d).toMatchObject({ action: `${FLOW_PATH}?s=6&n=urgent`, method: 'POST', timeout: 20, answerOnBridge: true });
    expect(numberNoun(d)).toMatchObject({ number: TIER1, url: whisperUrl(0), method: 'POST', machineDetection: 'Enable' });
    expect(numberNoun(d).url).toBe(`/twilio/voice/whisper?parent=${CALL_SID}&a=0`);
    expect(r.state).toMatchObject({ step: 6, waitingAt: 'urgent', done: false });
    expect(r.state.escalation).toEqual({ node: 'urgent', plan: PLAN, attempt: 0, base: 0 });
    expect(r.effects).toEqual([]);
    expect(actions(r.events)).toEqual([AuditAction.CallTransition, AuditAction.CallDial]);
  });

  it('a dial_done with no chain in progress does not connect: it asks for the plan', () => {
    expect(advance(flow, waitingAt('urgent'), done('completed', 'accepted'), ctx())).toEqual({ kind: 'needs', fact: 'escalation', policy: null });
    const r = run(waitingAt('urgent'), done('completed', 'accepted'), withPlan());
    expect(actions(r.events)).not.toContain(AuditAction.OncallConnected);
    expect(numberNoun(dial(r.verbs))).toMatchObject({ number: TIER1, url: whisperUrl(0) });
  });

  it('after a chain connects, reaching the node again starts a fresh chain with new whisper numbers', () => {
    const connected = run(escalating(1), done('completed', 'accepted'));
    expect(connected.state.escalation).toBeNull();
    expect(connected.state.whisperSeq).toBe(2);
    const again = waitingAt('main_menu', { whisperSeq: connected.state.whisperSeq });
    const press1: EngineEvent = { kind: 'gather', node: 'main_menu', digits: '1' };
    expect(advance(flow, again, press1, ctx())).toEqual({ kind: 'needs', fact: 'escalation', policy: null });
    const r = run(again, press1, withPlan());
    expect(numberNoun(dial(r.verbs))).toMatchObject({ number: TIER1, url: whisperUrl(2) });
  });

  it('a chain for another node is not reused: provider_line asks for its own plan', () => {
    const s = waitingAt('main_menu', { escalation: { node: 'urgent', plan: PLAN, attempt: 3, base: 0 }, whisperSeq: 4 });
    const press5: EngineEvent = { kind: 'gather', node: 'main_menu', digits: '5' };
    expect(advance(flow, s, press5, ctx())).toEqual({ kind: 'needs', fact: 'escalation', policy: null });
    const r = run(s, press5, withPlan());
    expect(r.state.escalation).toEqual({ node: 'provider_line', plan: PLAN, attempt: 0, base: 4 });
    expect(numberNoun(dial(r.verbs))).toMatchObject({ number: TIER1, url: whisperUrl(4) }); // whisper numbers never repeat within a call
  });

  it("completed or answered with the provider's accept → next, with oncall.connected", () => {
    for (const status of ['completed', 'answered'] as const) {
      const r = run(escalating(0), done(status, 'accepted'));
      expect(r.verbs).toEqual([{ verb: 'Say', text: GOODBYE_EN, voice: 'Polly.Joanna', language: 'en-US', loop: 1 }, { verb: 'Hangup' }]);
      expect(r.state).toMatchObject({ done: true, waitingAt: null });
      expect(transitions(r.events)).toEqual([{ from: 'urgent', to: 'goodbye', via: 'accepted' }]);
      expect(r.events).toContainEqual({
        action: AuditAction.OncallConnected,
        leg: 'parent',
        subjectId: 'prov-a',
        details: { node: 'urgent', tier: 1, round: 0, attempt: 0 },
      });
      expect(actions(r.events)).not.toContain(AuditAction.OncallAttemptFailed);
      expect(r.effects).toEqual([]);
    }
    // Accepted on the second round's tier 2.
    const later = run(escalating(3), done('completed', 'accepted'));
    expect(later.events).toContainEqual({
      action: AuditAction.OncallConnected,
      leg: 'parent',
      subjectId: 'prov-b',
      details: { node: 'urgent', tier: 2, round: 1, attempt: 3 },
    });
  });

  it('completed but declined → the next attempt rings tier 2 with a=1', () => {
    const r = run(escalating(0), done('completed', 'declined'));
    expect(r.verbs.map((v) => v.verb)).toEqual(['Say', 'Dial']);
    expect(texts(r.verbs)).toEqual([STILL_TRYING_EN]);
    const d = dial(r.verbs);
    expect(d).toMatchObject({ action: `${FLOW_PATH}?s=6&n=urgent`, timeout: 35, answerOnBridge: true });
    expect(numberNoun(d)).toMatchObject({ number: TIER2, url: whisperUrl(1), machineDetection: 'Enable' });
    expect(r.state).toMatchObject({ waitingAt: 'urgent', done: false, escalation: { node: 'urgent', plan: PLAN, attempt: 1 } });
    expect(r.events).toEqual([
      {
        action: AuditAction.OncallAttemptFailed,
        leg: 'parent',
        subjectId: 'prov-a',
        details: { node: 'urgent', tier: 1, round: 0, attempt: 0, outcome: 'declined' },
      },
      { action: AuditAction.CallDial, leg: 'parent', subjectId: 'prov-b', details: { node: 'urgent', target: 'on_call', urgency: 'urgent', tier: 2, round: 0, attempt: 1 } },
    ]);
    expect(r.effects).toEqual([]);
  });

  it('an answered leg without an accept (machine, no key, unknown) goes on to the next attempt', () => {
    for (const [whisper, outcome] of [
      ['machine', 'machine'],
      ['no_response', 'no_response'],
      [null, 'no_response'],
      [undefined, 'no_response'],
    ] as const) {
      const r = run(escalating(0), done('completed', whisper));
      expect(actions(r.events)).not.toContain(AuditAction.OncallConnected);
      expect(r.events[0]).toMatchObject({ action: AuditAction.OncallAttemptFailed, details: { attempt: 0, outcome } });
      expect(numberNoun(dial(r.verbs))).toMatchObject({ number: TIER2, url: whisperUrl(1) });
      expect(r.state.escalation?.attempt).toBe(1);
    }
  });

  it("the still-trying line is spoken in the caller's language", () => {
    const r = run(escalating(0, PLAN, { lang: 'es' }), done('no-answer'));
    expect(spoken(r.verbs)).toEqual([
      { text: 'Seguimos intentando comunicarnos con el proveedor de guardia. Por favor, permanezca en la línea.', voice: 'Polly.Lupe', language: 'es-US' },
    ]);
  });

  it('whisper accepted but a no-answer (or other failed) dial status does not connect', () => {
    for (const status of ['no-answer', 'busy', 'failed', 'canceled', null] as const) {
      const r = run(escalating(0), done(status, 'accepted'));
      expect(actions(r.events)).not.toContain(AuditAction.OncallConnected);
      expect(r.state.done).toBe(false);
      expect(r.events[0]).toEqual({
        action: AuditAction.OncallAttemptFailed,
        leg: 'parent',
        subjectId: 'prov-a',
        details: { node: 'urgent', tier: 1, round: 0, attempt: 0, outcome: status ?? 'unknown' },
      });
      expect(numberNoun(dial(r.verbs))).toMatchObject({ number: TIER2, url: whisperUrl(1) });
    }
    // On the last attempt it exhausts the chain instead.
    const last = run(escalating(3), done('no-answer', 'accepted'));
    expect(actions(last.events)).not.toContain(AuditAction.OncallConnected);
    expect(last.state.waitingAt).toBe('urgent_callback');
    expect(last.effects).toEqual([{ kind: 'page', policyId: 'pol-1' }]);
  });

  it('no answer anywhere: 2 targets × 2 rounds = exactly 4 dials, then urgent voicemail and one page', () => {
    const results: (TwimlResult & { verbs: TwimlVerb[] })[] = [run(waitingAt('main_menu'), pressOne, withPlan())];
    for (let i = 0; i < 10 && results.at(-1)?.state.waitingAt === 'urgent'; i += 1) {
      const prev = results.at(-1) as TwimlResult;
      // The plan is only read when the chain starts; later turns need no facts.
      results.push(run(prev.state, done('no-answer')));
    }
    expect(results).toHaveLength(5);
    const dials = results.flatMap((r) => r.verbs.filter((v): v is DialVerb => v.verb === 'Dial'));
    expect(dials).toHaveLength(4);
    expect(dials.map((d) => numberNoun(d).number)).toEqual([TIER1, TIER2, TIER1, TIER2]);
    expect(dials.map((d) => numberNoun(d).url)).toEqual([0, 1, 2, 3].map(whisperUrl));
    expect(dials.map((d) => d.timeout)).toEqual([20, 35, 20, 35]);
    const dialEvents = results.flatMap((r) => r.events.filter((e) => e.action === AuditAction.CallDial));
    expect(dialEvents.map((e) => e.details)).toEqual([
      { node: 'urgent', target: 'on_call', urgency: 'urgent', tier: 1, round: 0, attempt: 0 },
      { node: 'urgent', target: 'on_call', urgency: 'urgent', tier: 2, round: 0, attempt: 1 },
      { node: 'urgent', target: 'on_call', urgency: 'urgent', tier: 1, round: 1, attempt: 2 },
      { node: 'urgent', target: 'on_call', urgency: 'urgent', tier: 2, round: 1, attempt: 3 },
    ]);
    const failed = results.flatMap((r) => r.events.filter((e) => e.action === AuditAction.OncallAttemptFailed));
    expect(failed.map((e) => e.details)).toEqual([
      { node: 'urgent', tier: 1, round: 0, attempt: 0, outcome: 'no-answer' },
      { node: 'urgent', tier: 2, round: 0, attempt: 1, outcome: 'no-answer' },
      { node: 'urgent', tier: 1, round: 1, attempt: 2, outcome: 'no-answer' },
      { node: 'urgent', tier: 2, round: 1, attempt: 3, outcome: 'no-answer' },
    ]);
    expect(results.flatMap((r) => r.effects)).toEqual([{ kind: 'page', policyId: 'pol-1' }]);

    const last = results.at(-1) as TwimlResult & { verbs: TwimlVerb[] };
    expect(last.verbs.some((v) => v.verb === 'Dial')).toBe(false);
    expect(last.state.waitingAt).toBe('urgent_callback');
    expect(last.events).toContainEqual({ action: AuditAction.OncallExhausted, leg: 'parent', details: { node: 'urgent', attempts: 4, policyId: 'pol-1' } });
    expect(transitions(last.events)).toEqual([{ from: 'urgent', to: 'urgent_callback', via: 'chain_exhausted' }]);
    // The callback number confirmed, the urgent message.
    const vm = ownNumber(last.state);
    expect(record(vm.verbs).action).toBe(`${FLOW_PATH}?s=11&n=urgent_voicemail`);
    expect(record(vm.verbs).recordingStatusCallback).toBe(`${RECORDING_STATUS_PATH}?n=urgent_voicemail&u=urgent&v=0`);
    expect(vm.state.waitingAt).toBe('urgent_voicemail');
    expect(results.flatMap((r) => actions(r.events)).filter((a) => a === AuditAction.OncallExhausted)).toHaveLength(1);
  });

  it('an empty plan goes straight to on_fail, without a Dial, and pages', () => {
    for (const policyId of ['pol-1', null]) {
      const empty: EscalationPlan = { policyId, targets: [], rounds: 2 };
      const r = run(waitingAt('main_menu'), pressOne, withPlan(empty));
      expect(r.verbs.some((v) => v.verb === 'Dial')).toBe(false);
      expect(texts(r.verbs)).not.toContain(HOLD_ONCALL_EN);
      expect(r.state.waitingAt).toBe('urgent_callback');
      expect(record(ownNumber(r.state).verbs).recordingStatusCallback).toBe(`${RECORDING_STATUS_PATH}?n=urgent_voicemail&u=urgent&v=0`);
      expect(r.effects).toEqual([{ kind: 'page', policyId }]);
      expect(r.events).toContainEqual({ action: AuditAction.OncallExhausted, leg: 'parent', details: { node: 'urgent', attempts: 0, policyId } });
      expect(transitions(r.events)).toEqual([
        { from: 'main_menu', to: 'urgent', via: 'key 1' },
        { from: 'urgent', to: 'urgent_callback', via: 'nobody_on_call' },
      ]);
      expect(actions(r.events)).not.toContain(AuditAction.CallDial);
    }
  });

  it('a retried state with the chain in progress keeps its attempt and plan', () => {
    const s = escalating(2);
    const copy = structuredClone(s);
    const event = done('completed', 'declined');
    const first = run(s, event);
    const again = run(s, event, withPlan({ policyId: 'other', targets: [{ tier: 1, providerId: 'x', number: '+12025550999', ringSeconds: 5 }], rounds: 1 }));
    expect(s).toEqual(copy);
    expect(again.twiml).toBe(first.twiml);
    expect(again.state).toEqual(first.state);
    expect(again.events).toEqual(first.events);
    expect(first.state.escalation).toEqual({ node: 'urgent', plan: PLAN, attempt: 3, base: 0 });
    expect(numberNoun(dial(first.verbs))).toMatchObject({ number: TIER2, url: whisperUrl(3) });

    // A webhook that does not fit re-rings the current attempt, without asking for a plan or restarting the chain.
    const misfit: EngineEvent = { kind: 'gather', node: 'urgent', digits: null };
    const r = run(s, misfit, ctx());
    expect(r.state.escalation).toEqual({ node: 'urgent', plan: PLAN, attempt: 2, base: 0 });
    expect(texts(r.verbs)).toEqual([STILL_TRYING_EN]);
    expect(numberNoun(dial(r.verbs))).toMatchObject({ number: TIER1, url: whisperUrl(2) });
    expect(actions(r.events)).toEqual([AuditAction.CallDial]);
    expect(r.effects).toEqual([]);
  });
});

describe('voicemail', () => {
  it('the Record verb carries urgency and verification in its status callback', () => {
    const routine = ownNumber(run(waitingAt('main_menu'), { kind: 'gather', node: 'main_menu', digits: '2' }).state);
    const rec = record(routine.verbs);
    expect(rec.recordingStatusCallback).toBe(`${RECORDING_STATUS_PATH}?n=message&u=routine&v=0`);
    expect(rec).toMatchObject({ action: `${FLOW_PATH}?s=7&n=message`, maxLength: 180, finishOnKey: '#', playBeep: true });
    expect(rec.recordingStatusCallbackEvent).toEqual(['completed', 'absent']);
    expect(routine.verbs.at(-1)).toEqual({ verb: 'Redirect', url: `${FLOW_PATH}?s=7&n=message&empty=1`, method: 'POST' });

    const verified = ownNumber(run(waitingAt('after_disclosure', { verifiedPatientId: PATIENT_ID }), { kind: 'gather', node: 'after_disclosure', digits: '2' }).state);
    expect(record(verified.verbs).recordingStatusCallback).toBe(`${RECORDING_STATUS_PATH}?n=message&u=routine&v=1`);

    const urgent = ownNumber(run(escalating(3), { kind: 'dial_done', node: 'urgent', status: 'no-answer' }).state);
    expect(record(urgent.verbs).recordingStatusCallback).toBe(`${RECORDING_STATUS_PATH}?n=urgent_voicemail&u=urgent&v=0`);
  });

  it('record_done with nothing recorded → next, via nothing_recorded', () => {
    const r = run(waitingAt('message'), { kind: 'record_done', node: 'message', recorded: false });
    expect(r.state.done).toBe(true);
    expect(r.verbs.at(-1)).toEqual({ verb: 'Hangup' });
    expect(transitions(r.events)).toEqual([{ from: 'message', to: 'goodbye', via: 'nothing_recorded' }]);
    expect(r.events).toContainEqual({
      action: AuditAction.VoicemailTaken,
      leg: 'parent',
      details: { node: 'message', urgency: 'routine', recorded: false, verified: false },
    });
  });

  it('record_done with a recording → next, via recorded', () => {
    const r = run(waitingAt('urgent_voicemail', { verifiedPatientId: PATIENT_ID }), { kind: 'record_done', node: 'urgent_voicemail', recorded: true });
    expect(transitions(r.events)).toEqual([{ from: 'urgent_voicemail', to: 'goodbye', via: 'recorded' }]);
    expect(r.events).toContainEqual(expect.objectContaining({ action: AuditAction.VoicemailTaken, details: { node: 'urgent_voicemail', urgency: 'urgent', recorded: true, verified: true } }));
  });
});

// ---------------------------------------------------------------------------
// Loop guard
// ---------------------------------------------------------------------------

describe('MAX_STEPS loop guard', () => {
  it('answers the fail-safe (disclaimer, then the fallback line) and ends the call', () => {
    const r = run(waitingAt('main_menu', { step: MAX_STEPS }), { kind: 'gather', node: 'main_menu', digits: '1' });
    expect(r.twiml).toBe(failSafe(FALLBACK));
    expect(texts(r.verbs).slice(0, 2)).toEqual([EMERGENCY_DISCLAIMER, EMERGENCY_DISCLAIMER_ES]);
    const d = dial(r.verbs);
    expect(dialNumber(d)).toBe(FALLBACK);
    // Not back into the flow: the fail-safe's own action, which only apologises when the dial failed.
    expect(d.action).toBe(FAIL_SAFE_DIAL_PATH);
    expect(r.state).toMatchObject({ done: true, waitingAt: null, step: MAX_STEPS + 1 });
    expect(r.events).toEqual([{ action: AuditAction.CallFailSafe, leg: 'parent', details: { reason: 'max_steps' } }]);
  });

  it('one step below the limit runs normally', () => {
    const r = run(waitingAt('main_menu', { step: MAX_STEPS - 1 }), { kind: 'gather', node: 'main_menu', digits: '1' }, withPlan());
    expect(r.state.done).toBe(false);
    expect(dial(r.verbs).action).toBe(`${FLOW_PATH}?s=${MAX_STEPS}&n=urgent`);
  });
});

// ---------------------------------------------------------------------------
// No PHI
// ---------------------------------------------------------------------------

describe('no PHI', () => {
  /** Every text the shipped flow can speak, with placeholders filled. */
  function flowTexts(f: Flow): Set<string> {
    const out = new Set<string>();
    for (const n of Object.values(f.nodes)) {
      const prompts = 'prompt' in n && n.prompt ? [n.prompt] : [];
      if (n.kind === 'menu') prompts.push(n.invalid);
      if (n.kind === 'verify') prompts.push(n.retryPrompt);
      for (const p of prompts) for (const t of Object.values(p.text)) if (t) out.add(t.replaceAll('{practice_name}', 'Sunrise Pediatrics'));
    }
    return out;
  }

  it('a verified call speaks nothing about the patient but the appointment time', () => {
    const name = 'Maria Lopez';
    const dob = '1980-01-02';
    const c = ctx({ facts: { nextAppointment: APPOINTMENT } });
    const events: EngineEvent[] = [
      { kind: 'start' },
      { kind: 'gather', node: 'language', digits: '1' },
      { kind: 'gather', node: 'main_menu', digits: '3' },
      { kind: 'gather', node: 'appointments_menu', digits: '1' },
      { kind: 'verify', node: 'verify_caller', outcome: 'no_match', lockedNow: false },
      { kind: 'verify', node: 'verify_caller', outcome: 'match', patientId: PATIENT_ID },
      { kind: 'gather', node: 'after_disclosure', digits: '9' },
    ];
    let state = initialState(flow, practice());
    const said: string[] = [];
    const allEvents: StepEvent[] = [];
    for (const e of events) {
      const r = run(state, e, c);
      said.push(...texts(r.verbs));
      allEvents.push(...r.events);
      state = r.state;
    }
    expect(state.done).toBe(true);
    expect(state.verifiedPatientId).toBe(PATIENT_ID);

    const known = flowTexts(flow);
    const unscripted = said.filter((t) => !known.has(t));
    expect(unscripted).toEqual([APPOINTMENT_EN]);
    const transcript = said.join('\n');
    for (const secret of [PATIENT_ID, name, dob, '1980', '01021980', APPOINTMENT.id, '2026']) expect(transcript).not.toContain(secret);
    // Audit details carry ids, never the appointment time.
    expect(JSON.stringify(allEvents)).not.toMatch(/2026-12-01|15:30|10:30|December/);
    expect(allEvents.filter((e) => e.action === AuditAction.Disclosure)).toHaveLength(1);
  });
});
