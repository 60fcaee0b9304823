import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFlowGraph } from '../../src/calls/flow-graph.js';
import { checkFlowDir, defaultAudioDir, loadFlowFile, loadFlows } from '../../src/calls/flow-loader.js';
import { FlowError, type FlowProblem } from '../../src/calls/flow-schema.js';
import { edgesOf } from '../../src/calls/nodes/index.js';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CALLFLOWS = path.join(ROOT, 'callflows');
const FIXTURES = path.join(ROOT, 'test/fixtures/flows');
const BAD = path.join(FIXTURES, 'bad');

let tmp: string;
let emptyAudio: string;
let audio: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'flow-loader-'));
  emptyAudio = path.join(tmp, 'audio-empty');
  audio = path.join(tmp, 'audio');
  await mkdir(emptyAudio);
  await mkdir(audio);
  await writeFile(path.join(audio, 'hello-en.mp3'), 'ID3');
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function problemsLoading(file: string, audioDir = emptyAudio): Promise<FlowProblem[]> {
  try {
    await loadFlowFile(file, { audioDir });
  } catch (err) {
    if (err instanceof FlowError) return err.problems;
    throw err;
  }
  return [];
}

describe('the shipped after-hours flow', () => {
  it('loads with every check passing', async () => {
    const flows = await loadFlows(CALLFLOWS, { audioDir: emptyAudio });
    const flow = flows.get('after-hours');
    expect(flow).toBeDefined();
    if (flow === undefined) return;
    expect(flow.start).toBe('greeting');
    expect(checkFlowGraph(flow)).toEqual([]);
  });

  it('loads with the default audio directory', async () => {
    expect(defaultAudioDir()).toBe(path.join(ROOT, 'audio'));
    await expect(loadFlows(CALLFLOWS)).resolves.toBeInstanceOf(Map);
  });

  it('follows the agreed order and menu', async () => {
    const flow = await loadFlowFile(path.join(CALLFLOWS, 'after-hours.yaml'), { audioDir: emptyAudio });
    const n = flow.nodes;
    expect(n.greeting).toMatchObject({ kind: 'say', next: 'disclaimer' });
    expect(n.disclaimer).toMatchObject({
      kind: 'say',
      allLanguages: true,
      prompt: {
        text: {
          en: 'If this is a medical emergency, hang up and dial 911.',
          es: 'Si tiene una emergencia médica, cuelgue y marque el 911.',
        },
      },
      next: 'hours',
    });
    expect(n.hours).toMatchObject({ kind: 'hours', open: 'front_desk', closed: 'language', holiday: 'language' });
    expect(n.front_desk).toMatchObject({ kind: 'transfer', to: 'front_desk', onFail: 'language' });
    expect(n.language).toMatchObject({ kind: 'language', options: { '1': 'en', '2': 'es' }, default: 'en', next: 'main_menu' });
    expect(n.main_menu).toMatchObject({
      kind: 'menu',
      options: { '1': 'urgent', '2': 'message_callback', '3': 'appointments_menu', '4': 'message_callback', '5': 'provider_line' },
      onExhausted: 'message_callback',
    });
    expect(n.urgent).toMatchObject({ kind: 'dial_oncall', urgency: 'urgent', onFail: 'urgent_callback' });
    expect(n.provider_line).toMatchObject({ kind: 'dial_oncall', urgency: 'urgent', onFail: 'urgent_callback' });
    // Before every message, the number to call back at (confirmed, or the caller's own if they do not answer).
    expect(n.urgent_callback).toMatchObject({ kind: 'callback_number', next: 'urgent_voicemail', onFail: 'urgent_voicemail' });
    expect(n.message_callback).toMatchObject({ kind: 'callback_number', next: 'message', onFail: 'message' });
    const intoMessages = Object.values(n).flatMap((from) => edgesOf(from).filter((e) => e.to === 'message' || e.to === 'urgent_voicemail').map(() => from.kind));
    expect(new Set(intoMessages)).toEqual(new Set(['callback_number']));
    expect(n.urgent_voicemail).toMatchObject({ kind: 'voicemail', urgency: 'urgent' });
    expect(n.appointments_menu).toMatchObject({ kind: 'menu', options: { '1': 'verify_caller', '2': 'message_callback' } });
    expect(n.verify_caller).toMatchObject({
      kind: 'verify',
      method: 'dob_or_pin',
      maxTries: 3,
      success: 'next_appointment',
      failure: 'verify_failed',
    });
    expect(n.next_appointment).toMatchObject({ kind: 'disclose', what: 'next_appointment', next: 'after_disclosure' });
    expect(n.verify_failed).toMatchObject({ kind: 'say', next: 'main_menu' });
    expect(n.message).toMatchObject({ kind: 'voicemail', urgency: 'routine', maxLengthSeconds: 180, next: 'goodbye' });
    expect(n.goodbye).toMatchObject({ kind: 'hangup', prompt: { text: { en: 'Thank you for calling. Goodbye.' } } });
    // the only way to the disclose node is verify_caller's success edge
    const into = Object.values(n).flatMap((from) => edgesOf(from).filter((e) => e.to === 'next_appointment').map((e) => `${from.id} ${e.label}`));
    expect(into).toEqual(['verify_caller success']);
  });

  it('has every prompt in English and Spanish, and Spanish menus say "oprima"', async () => {
    const flow = await loadFlowFile(path.join(CALLFLOWS, 'after-hours.yaml'), { audioDir: emptyAudio });
    for (const node of Object.values(flow.nodes)) {
      for (const field of ['prompt', 'invalid', 'retryPrompt'] as const) {
        const prompt = (node as unknown as Record<string, { text: { en: string; es?: string } } | undefined>)[field];
        if (prompt === undefined) continue;
        expect(prompt.text.es, `${node.id}.${field}`).toBeTruthy();
        if (/\bpress\b/.test(prompt.text.en)) expect(prompt.text.es, `${node.id}.${field}`).toMatch(/\boprima\b/);
        expect(prompt.text.es).not.toMatch(/\bpresione\b/i);
      }
    }
  });
});

describe('loadFlowFile refuses each broken fixture with file, node and reason', () => {
  const cases: Array<[fixture: string, node: string | undefined, message: string]> = [
    ['unknown-field', 'message', 'unknown field "colour"'],
    ['bad-key', 'main_menu', 'options: key "12" must be a single keypad key (0-9, * or #)'],
    [
      'bad-placeholder',
      'greeting',
      'prompt.text.en: unknown placeholder "{patient_name}" (allowed: {practice_name}, {callback_number})',
    ],
    ['unknown-target', 'main_menu', 'on_exhausted → unknown node "mesage"'],
    ['unreachable', 'orphan', 'unreachable from start'],
    ['silent-cycle', 'ping', 'loop with no caller input (say/hours/disclose only): ping → pong → ping'],
    [
      'disclose-without-verify',
      'next_appointment',
      'disclose reachable without verification: greeting → main_menu (key 3) → next_appointment',
    ],
    [
      'verify-no-help',
      'check',
      'failure → "sorry" reaches no dial_oncall or voicemail node: a caller who fails verification must still reach help',
    ],
    ['wrong-name', undefined, 'id "another-name" must equal the file name "wrong-name"'],
  ];

  it.each(cases)('%s', async (fixture, node, message) => {
    const file = path.join(BAD, `${fixture}.yaml`);
    const expected: FlowProblem = node === undefined ? { file, message } : { file, node, message };
    expect(await problemsLoading(file)).toEqual([expected]);
  });

  it('missing audio file', async () => {
    const file = path.join(BAD, 'missing-audio.yaml');
    expect(await problemsLoading(file)).toEqual([
      { file, node: 'message', message: `prompt.audio.en: audio file "leave-message.wav" not found in ${emptyAudio}` },
    ]);
  });

  it('YAML syntax error, with its line', async () => {
    const file = path.join(FIXTURES, 'syntax', 'syntax-error.yaml');
    const problems = await problemsLoading(file);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.file).toBe(file);
    expect(problems[0]?.message).toMatch(/^YAML syntax error at line 15, column 5: /);
  });

  it('duplicate keys in YAML, with their line', async () => {
    const file = path.join(tmp, 'dup-keys.yaml');
    await writeFile(file, 'id: dup-keys\ndescription: x\ndescription: y\nstart: a\nnodes:\n  a: { kind: hangup }\n');
    expect(await problemsLoading(file)).toEqual([{ file, message: 'YAML syntax error at line 3, column 1: Map keys must be unique' }]);
  });

  it('an empty file', async () => {
    const file = path.join(tmp, 'empty.yaml');
    await writeFile(file, '');
    expect(await problemsLoading(file)).toEqual([{ file, message: 'must be a mapping with id, description, start and nodes' }]);
  });
});

describe('loadFlows', () => {
  it('accepts a flow whose disclose node is reached only through verify success, ignoring files that are not *.yaml', async () => {
    const flows = await loadFlows(path.join(FIXTURES, 'good'), { audioDir: audio });
    expect([...flows.keys()]).toEqual(['verified']);
    expect(flows.get('verified')?.nodes.appointment).toMatchObject({ kind: 'disclose' });
  });

  it('refuses an audio file missing from the audio directory', async () => {
    const dir = path.join(FIXTURES, 'good');
    await expect(loadFlows(dir, { audioDir: emptyAudio })).rejects.toMatchObject({
      problems: [
        {
          file: path.join(dir, 'verified.yaml'),
          node: 'greeting',
          message: `prompt.audio.en: audio file "hello-en.mp3" not found in ${emptyAudio}`,
        },
      ],
    });
  });

  it('collects every problem of every file in one FlowError', async () => {
    const err: unknown = await loadFlows(BAD, { audioDir: emptyAudio }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowError);
    const problems = (err as FlowError).problems;
    const fixtures = (await readdir(BAD)).filter((name) => name.endsWith('.yaml')).sort();
    expect(fixtures).toHaveLength(10);
    // one problem per fixture, every file reported
    expect(problems.map((p) => path.basename(p.file))).toEqual(fixtures);
    expect((err as FlowError).message).toContain(
      `${path.join(BAD, 'disclose-without-verify.yaml')}: node next_appointment: disclose reachable without verification: greeting → main_menu (key 3) → next_appointment`,
    );
  });

  it('refuses a duplicate flow id', async () => {
    const dir = path.join(tmp, 'dups');
    await mkdir(dir);
    await copyFile(path.join(FIXTURES, 'duplicate', 'twin.yaml'), path.join(dir, 'twin.yaml'));
    await copyFile(path.join(FIXTURES, 'duplicate', 'twin-copy.yaml'), path.join(dir, 'twin-copy.yaml'));
    const report = await checkFlowDir(dir, { audioDir: emptyAudio });
    const problems = report.files.flatMap((f) => f.problems);
    expect(problems).toContainEqual({
      file: path.join(dir, 'twin.yaml'),
      message: `duplicate flow id "twin" (also in ${path.join(dir, 'twin-copy.yaml')})`,
    });
    await expect(loadFlows(dir, { audioDir: emptyAudio })).rejects.toBeInstanceOf(FlowError);
  });

  it('refuses a directory with no flows, or none at all', async () => {
    await expect(loadFlows(emptyAudio)).rejects.toMatchObject({ problems: [{ file: emptyAudio, message: 'no *.yaml flow files' }] });
    const missing = path.join(tmp, 'missing');
    await expect(loadFlows(missing)).rejects.toMatchObject({
      problems: [{ file: missing, message: 'cannot read flow directory: ENOENT' }],
    });
  });
});

describe('scripts/flows-check.ts', () => {
  const run = promisify(execFile);
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
  const script = path.join(ROOT, 'scripts/flows-check.ts');

  it('prints OK for callflows/ by default', async () => {
    const { stdout } = await run(tsx, [script], { cwd: ROOT });
    expect(stdout).toBe('OK callflows/after-hours.yaml: 19 nodes\nOK callflows/drop-callback.yaml: 12 nodes\n');
  });

  it('prints the problems and exits 1', async () => {
    const err = (await run(tsx, [script, 'test/fixtures/flows/bad'], { cwd: ROOT }).catch((e: unknown) => e)) as {
      code?: number;
      stdout: string;
      stderr: string;
    };
    expect(err.code).toBe(1);
    expect(err.stdout).toBe('');
    expect(err.stderr).toContain(
      'test/fixtures/flows/bad/unreachable.yaml: node orphan: unreachable from start\n',
    );
  });
});
