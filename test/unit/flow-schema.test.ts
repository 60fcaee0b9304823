import { describe, expect, it } from 'vitest';
import { FlowError, parseFlowDocument, type FlowProblem } from '../../src/calls/flow-schema.js';
import { everyKindDoc, minimalDoc, type Doc } from '../fixtures/flows/docs.js';

const FILE = 'callflows/test.yaml';

function problemsOf(doc: unknown): FlowProblem[] {
  try {
    parseFlowDocument(doc, FILE);
  } catch (err) {
    if (err instanceof FlowError) return err.problems;
    throw err;
  }
  return [];
}

function node(doc: Doc, id: string): Record<string, unknown> {
  const n = doc.nodes[id];
  if (n === undefined) throw new Error(`no node ${id} in test doc`);
  return n;
}

describe('parseFlowDocument', () => {
  it('builds the camelCase types, with node ids from the keys', () => {
    const flow = parseFlowDocument(everyKindDoc(), FILE);
    expect(flow.id).toBe('minimal');
    expect(flow.file).toBe(FILE);
    expect(flow.start).toBe('greeting');
    expect(flow.nodes.main_menu).toEqual({
      id: 'main_menu',
      kind: 'menu',
      prompt: { text: { en: 'For your next appointment, press 1. To leave a message, press 2.' } },
      options: { '1': 'check', '2': 'message' },
      timeoutSeconds: 6,
      retries: 3,
      invalid: { text: { en: 'Sorry, that is not a valid choice.' } },
      onExhausted: 'message',
    });
    expect(flow.nodes.check).toMatchObject({ retryPrompt: { text: { en: 'Sorry, please try again.' } }, maxTries: 3, timeoutSeconds: 10 });
    expect(flow.nodes.message).toMatchObject({ maxLengthSeconds: 180, urgency: 'routine' });
    expect(flow.nodes.disclaimer).toMatchObject({ allLanguages: true });
    expect(flow.nodes.front_desk).toMatchObject({ onFail: 'language', timeoutSeconds: 25, to: 'front_desk' });
    expect(flow.nodes.urgent).toMatchObject({ onFail: 'message', urgency: 'urgent' });
    expect(flow.nodes.language).toMatchObject({ options: { '1': 'en', '2': 'es' }, default: 'en', timeoutSeconds: 6 });
    expect(flow.nodes.greeting).not.toHaveProperty('allLanguages');
    for (const [id, n] of Object.entries(flow.nodes)) expect(n.id).toBe(id);
  });

  it('keeps audio file names', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { en: 'Hello.', es: 'Hola.' }, audio: { en: 'hello-en.mp3', es: 'hola_es.wav' } };
    const flow = parseFlowDocument(doc, FILE);
    expect(flow.nodes.greeting).toMatchObject({ prompt: { audio: { en: 'hello-en.mp3', es: 'hola_es.wav' } } });
  });

  it('refuses an unknown field in a node, naming file, node and field', () => {
    const doc = minimalDoc();
    node(doc, 'main_menu').timeout = 5;
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'main_menu', message: 'unknown field "timeout"' }]);
  });

  it('refuses an unknown field in a prompt and at the top level', () => {
    const doc = minimalDoc();
    doc.version = 2;
    node(doc, 'greeting').prompt = { text: { en: 'Hello.' }, voice: 'Polly.Joanna' };
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'greeting', message: 'prompt: unknown field "voice"' },
      { file: FILE, message: 'unknown field "version"' },
    ]);
  });

  it('refuses camelCase field names (the file is snake_case)', () => {
    const doc = minimalDoc();
    const menu = node(doc, 'main_menu');
    menu.timeoutSeconds = menu.timeout_seconds;
    delete menu.timeout_seconds;
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'main_menu', message: 'timeout_seconds: is required' },
      { file: FILE, node: 'main_menu', message: 'unknown field "timeoutSeconds"' },
    ]);
  });

  it('refuses an unknown node kind', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').kind = 'play';
    const problems = problemsOf(doc);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: FILE, node: 'greeting' });
    expect(problems[0]?.message).toMatch(/^kind: must be one of say, menu, .*hangup$/);
  });

  it.each(['12', 'a', '', '10'])('refuses options key %j', (key) => {
    const doc = minimalDoc();
    node(doc, 'main_menu').options = { '1': 'check', [key]: 'message' };
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'main_menu', message: `options: key "${key}" must be a single keypad key (0-9, * or #)` },
    ]);
  });

  it.each(['0', '9', '*', '#'])('accepts options key %j', (key) => {
    const doc = minimalDoc();
    node(doc, 'main_menu').options = { '1': 'check', [key]: 'message' };
    expect(problemsOf(doc)).toEqual([]);
  });

  it('refuses a menu with no options', () => {
    const doc = minimalDoc();
    node(doc, 'main_menu').options = {};
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'main_menu', message: 'options: must map at least one key' }]);
  });

  it('refuses a language option that is not a supported language', () => {
    const doc = everyKindDoc();
    node(doc, 'language').options = { '1': 'en', '2': 'fr' };
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'language', message: 'options.2: must be one of en, es' }]);
  });

  it('refuses a placeholder other than {practice_name} and {callback_number}, naming it', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { en: 'Hello {patient_name}, this is {practice_name}.', es: 'Su cita es {appointment_time}.' } };
    expect(problemsOf(doc)).toEqual([
      {
        file: FILE,
        node: 'greeting',
        message: 'prompt.text.en: unknown placeholder "{patient_name}" (allowed: {practice_name}, {callback_number})',
      },
      {
        file: FILE,
        node: 'greeting',
        message: 'prompt.text.es: unknown placeholder "{appointment_time}" (allowed: {practice_name}, {callback_number})',
      },
    ]);
  });

  it('refuses a stray brace and accepts both allowed placeholders', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { en: 'Call {callback_number} for {practice_name}.' } };
    node(doc, 'bye').prompt = { text: { en: 'Goodbye {practice_name' } };
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'bye', message: 'prompt.text.en: unmatched brace (allowed: {practice_name}, {callback_number})' },
    ]);
  });

  it('checks placeholders in every prompt field (menu invalid, verify retry_prompt)', () => {
    const doc = minimalDoc();
    node(doc, 'main_menu').invalid = { text: { en: 'Sorry {name}.' } };
    node(doc, 'check').retry_prompt = { text: { en: 'Try again, {first_name}.' } };
    expect(problemsOf(doc).map((p) => [p.node, p.message.split(':')[0]])).toEqual([
      ['main_menu', 'invalid.text.en'],
      ['check', 'retry_prompt.text.en'],
    ]);
  });

  it('bounds prompt text to 1-500 characters', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { en: 'x'.repeat(500) } };
    expect(problemsOf(doc)).toEqual([]);
    node(doc, 'greeting').prompt = { text: { en: 'x'.repeat(501) } };
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'greeting', message: 'prompt.text.en: must be at most 500 characters' }]);
    node(doc, 'greeting').prompt = { text: { en: '' } };
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'greeting', message: 'prompt.text.en: must not be empty' }]);
  });

  it('requires English text and refuses other languages', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { es: 'Hola.', fr: 'Bonjour.' } };
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'greeting', message: 'prompt.text.en: is required' },
      { file: FILE, node: 'greeting', message: 'prompt.text: unknown field "fr"' },
    ]);
  });

  it.each(['../secret.mp3', 'Hello.mp3', 'hello.ogg', 'hello', '-hello.mp3', 'sub/hello.wav'])('refuses audio file name %j', (name) => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { en: 'Hello.' }, audio: { en: name } };
    expect(problemsOf(doc)).toEqual([
      {
        file: FILE,
        node: 'greeting',
        message: 'prompt.audio.en: must be a file name in audio/ (a-z, 0-9, . _ -) ending in .mp3 or .wav',
      },
    ]);
  });

  it('requires text (the transcript) in every language that has audio', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').prompt = { text: { en: 'Hello.' }, audio: { es: 'hola.mp3' } };
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'greeting', message: 'prompt.text.es: is required when audio.es is set' }]);
  });

  type Case = [node: string, field: string, min: number, max: number];
  const bounds: Case[] = [
    ['main_menu', 'timeout_seconds', 3, 15],
    ['main_menu', 'retries', 1, 5],
    ['language', 'timeout_seconds', 3, 15],
    ['check', 'timeout_seconds', 5, 20],
    ['check', 'max_tries', 1, 3],
    ['message', 'max_length_seconds', 10, 300],
    ['front_desk', 'timeout_seconds', 10, 60],
  ];

  it.each(bounds)('bounds %s.%s to %i-%i', (id, field, min, max) => {
    const message = `${field}: must be a whole number from ${min} to ${max}`;
    for (const ok of [min, max]) {
      const doc = everyKindDoc();
      node(doc, id)[field] = ok;
      expect(problemsOf(doc)).toEqual([]);
    }
    for (const bad of [min - 1, max + 1, min + 0.5, String(min)]) {
      const doc = everyKindDoc();
      node(doc, id)[field] = bad;
      expect(problemsOf(doc)).toEqual([{ file: FILE, node: id, message }]);
    }
  });

  it('requires every field of a kind', () => {
    const doc = minimalDoc();
    delete node(doc, 'check').failure;
    delete node(doc, 'message').urgency;
    expect(problemsOf(doc)).toEqual([
      { file: FILE, node: 'check', message: 'failure: is required' },
      { file: FILE, node: 'message', message: 'urgency: is required' },
    ]);
  });

  it('refuses a node id that is not lower snake case', () => {
    const doc = minimalDoc();
    doc.nodes['Main-Menu'] = { kind: 'hangup' };
    doc.nodes['x'.repeat(42)] = { kind: 'hangup' };
    const problems = problemsOf(doc);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toEqual({ file: FILE, message: expect.stringMatching(/^nodes: key "Main-Menu" must be a node id/) as unknown });
    expect(problems[1]?.message).toMatch(/^nodes: key "x{40}…" must be a node id/);
  });

  it('refuses a reference that is not a node id', () => {
    const doc = minimalDoc();
    node(doc, 'greeting').next = 'Main Menu';
    expect(problemsOf(doc)).toEqual([{ file: FILE, node: 'greeting', message: 'next: must be a node id (a-z, 0-9, _)' }]);
  });

  it('refuses a document that is not a mapping, or has no nodes', () => {
    expect(problemsOf(null)).toEqual([{ file: FILE, message: 'must be a mapping with id, description, start and nodes' }]);
    expect(problemsOf(['a'])).toHaveLength(1);
    const doc = minimalDoc();
    doc.nodes = {};
    expect(problemsOf(doc)).toEqual([{ file: FILE, message: 'nodes: must have at least one node' }]);
    expect(problemsOf({ id: 'x', nodes: { a: { kind: 'hangup' } } })).toEqual([
      { file: FILE, message: 'description: is required' },
      { file: FILE, message: 'start: is required' },
    ]);
  });

  it('lists every problem in the error message as file: node <id>: problem', () => {
    const doc = minimalDoc();
    node(doc, 'main_menu').timeout = 5;
    node(doc, 'check').max_tries = 4;
    let error: unknown;
    try {
      parseFlowDocument(doc, FILE);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FlowError);
    const lines = (error as FlowError).message.split('\n');
    expect(lines).toEqual([
      'call flow check failed (2 problems):',
      `  ${FILE}: node main_menu: unknown field "timeout"`,
      `  ${FILE}: node check: max_tries: must be a whole number from 1 to 3`,
    ]);
  });
});
