import { describe, expect, it } from 'vitest';
import { isUsNumber, keyedUsNumber } from '../../src/calls/callback-number.js';
import { advance, initialState, type CallState, type EngineContext, type EngineResult } from '../../src/calls/engine.js';
import { checkFlowGraph } from '../../src/calls/flow-graph.js';
import { FlowError, parseFlowDocument, type FlowProblem } from '../../src/calls/flow-schema.js';
import type { Flow } from '../../src/calls/flow-types.js';
import { renderTwiml } from '../../src/calls/render-twiml.js';
import { minimalDoc, type Doc } from '../fixtures/flows/docs.js';

const FILE = 'callflows/test.yaml';

/** The minimal flow with a callback_number node before its message. */
function withCallbackNode(fields: Record<string, unknown> = {}): Doc {
  const doc = minimalDoc();
  const menu = doc.nodes['main_menu'];
  if (!menu) throw new Error('no main_menu');
  menu['options'] = { '1': 'check', '2': 'callback' };
  doc.nodes['callback'] = { kind: 'callback_number', timeout_seconds: 8, max_tries: 3, next: 'message', on_fail: 'message', ...fields };
  return doc;
}

function problemsOf(doc: unknown): FlowProblem[] {
  try {
    return checkFlowGraph(parseFlowDocument(doc, FILE));
  } catch (err) {
    if (err instanceof FlowError) return err.problems;
    throw err;
  }
}

describe('callback_number in a flow file', () => {
  it('loads with the built-in prompts in English and Spanish, or the practice\'s own', () => {
    const flow = parseFlowDocument(withCallbackNode(), FILE);
    expect(flow.nodes['callback']).toMatchObject({ kind: 'callback_number', timeoutSeconds: 8, maxTries: 3, next: 'message', onFail: 'message' });
    expect(flow.nodes['callback']).toMatchObject({ prompt: { text: { en: expect.stringContaining('press 1'), es: expect.stringContaining('oprima 1') } } });
    expect(checkFlowGraph(flow)).toEqual([]);
    const own = parseFlowDocument(withCallbackNode({ read_back: { text: { en: 'That was {keyed_number}. One for yes, two for no.' } } }), FILE);
    expect(own.nodes['callback']).toMatchObject({ readBack: { text: { en: 'That was {keyed_number}. One for yes, two for no.' } } });
  });

  it('names file, node and field for each wrong field', () => {
    expect(problemsOf(withCallbackNode({ max_tries: 9, timeout_seconds: 'soon', on_fail: undefined, retries: 2 }))).toEqual([
      { file: FILE, node: 'callback', message: 'timeout_seconds: must be a whole number from 5 to 20' },
      { file: FILE, node: 'callback', message: 'max_tries: must be a whole number from 1 to 5' },
      { file: FILE, node: 'callback', message: 'on_fail: is required' },
      { file: FILE, node: 'callback', message: 'unknown field "retries"' },
    ]);
  });

  it('the read-back must say {keyed_number}, is spoken (no recording), and takes no unknown placeholder', () => {
    expect(problemsOf(withCallbackNode({ read_back: { text: { en: 'Press 1 if that is correct.' } } }))).toEqual([
      { file: FILE, node: 'callback', message: 'read_back.text.en: must say {keyed_number}' },
    ]);
    expect(problemsOf(withCallbackNode({ read_back: { text: { en: 'You entered {keyed_number}.' }, audio: { en: 'x.mp3' } } }))).toEqual([
      { file: FILE, node: 'callback', message: 'read_back: unknown field "audio"' },
    ]);
    expect(problemsOf(withCallbackNode({ read_back: { text: { en: 'You entered {keyed_number}, {patient_name}.' } } }))).toEqual([
      {
        file: FILE,
        node: 'callback',
        message: 'read_back.text.en: unknown placeholder "{patient_name}" (allowed: {practice_name}, {callback_number}, {keyed_number})',
      },
    ]);
  });

  it('{keyed_number} is refused in any other prompt: of this node, or of another kind', () => {
    expect(problemsOf(withCallbackNode({ prompt: { text: { en: 'Is {keyed_number} right?' } } }))).toEqual([
      { file: FILE, node: 'callback', message: 'prompt.text.en: unknown placeholder "{keyed_number}" (allowed: {practice_name}, {callback_number})' },
    ]);
    const doc = withCallbackNode();
    const greeting = doc.nodes['greeting'];
    if (greeting) greeting['prompt'] = { text: { en: 'You called from {keyed_number}.' } };
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'greeting', message: 'prompt.text.en: unknown placeholder "{keyed_number}" (allowed: {practice_name}, {callback_number})' },
    ]);
  });

  it('the graph rule holds the read-back to callback_number even if a schema let it through', () => {
    const flow = parseFlowDocument(withCallbackNode(), FILE);
    const greeting = flow.nodes['greeting'];
    if (greeting?.kind !== 'say') throw new Error('greeting is a say');
    const forged: Flow = { ...flow, nodes: { ...flow.nodes, greeting: { ...greeting, prompt: { text: { en: 'Hello {keyed_number}.' } } } } };
    expect(checkFlowGraph(forged)).toEqual([{ file: FILE, node: 'greeting', message: "prompt: {keyed_number} may only be read back by a callback_number node's read_back" }]);
  });

  it('is no disclosure: reachable without verification, and confirming needs a key (silence is not a loop)', () => {
    const doc = withCallbackNode({ on_fail: 'main_menu' });
    expect(problemsOf(doc)).toEqual([]);
  });
});

describe('US numbers keyed on the phone', () => {
  it('takes ten digits with a 2-9 area code and exchange, neither an N11 code', () => {
    expect(isUsNumber('3105550188')).toBe(true);
    expect(isUsNumber('2025550123')).toBe(true);
    for (const bad of ['0105550188', '1105550188', '4115550188', '3101110188', '3104110188', '3100550188', '310555018', '31055501888', '310555018#']) {
      expect(isUsNumber(bad), bad).toBe(false);
    }
  });

  it('forgives a leading 1 and a trailing pound key', () => {
    expect(keyedUsNumber('13105550188')).toBe('3105550188');
    expect(keyedUsNumber('3105550188#')).toBe('3105550188');
    expect(keyedUsNumber('21255#')).toBeNull();
  });
});

describe('the engine at a callback_number node', () => {
  const flow = parseFlowDocument(withCallbackNode(), FILE);
  const practice = {
    id: 'p1',
    name: 'Demo',
    greetingName: 'Demo',
    timeZone: 'America/New_York',
    weeklyHours: {},
    holidays: [],
    languages: ['en' as const],
    frontDeskNumber: null,
    fallbackNumber: null,
  } as unknown as EngineContext['practice'];
  const ctx = (facts: EngineContext['facts'] = {}, hasCallerId = true): EngineContext => ({ now: new Date('2026-11-26T03:00:00Z'), callSid: 'CA1', practice, publicBaseUrl: 'https://x.test', facts, hasCallerId });

  function verbsOf(r: EngineResult): Extract<EngineResult, { kind: 'verbs' }> {
    if (r.kind !== 'verbs') throw new Error(`engine needs ${r.fact}`);
    return r;
  }

  function atCallback(hasCallerId: boolean): CallState {
    const start = verbsOf(advance(flow, initialState(flow, practice), { kind: 'start' }, ctx({}, hasCallerId)));
    return verbsOf(advance(flow, start.state, { kind: 'gather', node: 'main_menu', digits: '2' }, ctx({}, hasCallerId))).state;
  }

  it('asks for the read-back digits as a fact, and only speaks them once opened', () => {
    const chose = verbsOf(advance(flow, atCallback(true), { kind: 'callback', node: 'callback', entry: { kind: 'key', digit: '2' } }, ctx()));
    expect(chose.state.callback).toMatchObject({ phase: 'key', tries: 0, keyed: null });
    const keyed = { sealed: 'U0VBTEVE', index: 'idx' };
    const asked = advance(flow, chose.state, { kind: 'callback', node: 'callback', entry: { kind: 'number', number: keyed } }, ctx());
    expect(asked).toEqual({ kind: 'needs', fact: 'keyedNumber', sealed: 'U0VBTEVE' });
    const read = verbsOf(advance(flow, chose.state, { kind: 'callback', node: 'callback', entry: { kind: 'number', number: keyed } }, ctx({ keyedNumber: { sealed: 'U0VBTEVE', digits: '3105550188' } })));
    expect(renderTwiml(read.verbs)).toContain('You entered 3, 1, 0, 5, 5, 5, 0, 1, 8, 8. Press 1 if that is correct, 2 to try again.');
    const confirmed = verbsOf(advance(flow, read.state, { kind: 'callback', node: 'callback', entry: { kind: 'key', digit: '1' } }, ctx()));
    expect(confirmed.effects).toEqual([{ kind: 'callback_number', keyed }]);
    expect(confirmed.state.callback).toBeNull();
    expect(confirmed.state.waitingAt).toBe('message');
  });

  it('press 1 confirms the caller\'s own number; without caller ID the node starts at keying', () => {
    const own = verbsOf(advance(flow, atCallback(true), { kind: 'callback', node: 'callback', entry: { kind: 'key', digit: '1' } }, ctx()));
    expect(own.effects).toEqual([{ kind: 'callback_number', keyed: null }]);
    expect(atCallback(false).callback).toMatchObject({ phase: 'key' });
  });

  it('wrong keys and silence are counted; past max_tries the caller goes on to on_fail with no number kept', () => {
    let state = atCallback(true);
    for (const entry of [{ kind: 'key', digit: '7' }, { kind: 'timeout' }] as const) {
      const r = verbsOf(advance(flow, state, { kind: 'callback', node: 'callback', entry }, ctx()));
      expect(r.state.waitingAt).toBe('callback');
      state = r.state;
    }
    const last = verbsOf(advance(flow, state, { kind: 'callback', node: 'callback', entry: { kind: 'invalid' } }, ctx()));
    expect(last.state.waitingAt).toBe('message');
    expect(last.effects).toEqual([]);
    expect(last.events).toContainEqual(expect.objectContaining({ action: 'call.transition', details: { steps: expect.arrayContaining([{ from: 'callback', to: 'message', via: 'tries_exhausted:invalid' }]) } }));
  });
});
