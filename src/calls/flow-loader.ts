import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { checkFlowGraph, promptsOf } from './flow-graph.js';
import { FlowError, parseFlowDocument, type FlowProblem } from './flow-schema.js';
import type { Flow } from './flow-types.js';

/**
 * Loads the call flows in callflows/: every *.yaml file is parsed, checked against the schema
 * and the graph rules, and its audio files looked up. All problems in all files are collected
 * and reported together, with file, node and reason; a bad flow never runs.
 */

export interface LoadFlowsOptions {
  /** Where prompt audio files live; default `<repo>/audio`. */
  audioDir?: string;
}

/** The outcome for one file: the flow when it parsed, and every problem found. */
export interface FlowFileReport {
  file: string;
  flow: Flow | undefined;
  problems: FlowProblem[];
}

export interface FlowDirReport {
  files: FlowFileReport[];
  /** Problems with the directory itself (unreadable, no flows). */
  problems: FlowProblem[];
}

export const FLOW_FILE_EXTENSION = '.yaml';

/** `<repo>/audio`: the nearest folder above this module holding package.json (works from src/ and dist/). */
export function defaultAudioDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'audio');
    const up = path.dirname(dir);
    if (up === dir) return path.resolve('audio');
    dir = up;
  }
}

function reason(err: unknown): string {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}

/** YAML text → plain data, or problems with line and column. */
function parseYaml(text: string, file: string): { doc: unknown } | { problems: FlowProblem[] } {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((err) => {
        const where = err.linePos?.[0];
        const what = err.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? err.code;
        return { file, message: `YAML syntax error${where ? ` at line ${where.line}, column ${where.col}` : ''}: ${what}` };
      }),
    };
  }
  try {
    return { doc: doc.toJS() };
  } catch (err) {
    // e.g. an alias to an anchor that is not defined
    return { problems: [{ file, message: `YAML error: ${reason(err)}` }] };
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function checkAudio(flow: Flow, audioDir: string): Promise<FlowProblem[]> {
  const problems: FlowProblem[] = [];
  for (const node of Object.values(flow.nodes)) {
    for (const { field, prompt } of promptsOf(node)) {
      for (const [lang, name] of Object.entries(prompt.audio ?? {})) {
        if (name !== undefined && !(await isFile(path.join(audioDir, name)))) {
          problems.push({ file: flow.file, node: node.id, message: `${field}.audio.${lang}: audio file "${name}" not found in ${audioDir}` });
        }
      }
    }
  }
  return problems;
}

/** JSON text → plain data, or the parser's problem (JSON.parse names the position). */
function parseJson(text: string, file: string): { doc: unknown } | { problems: FlowProblem[] } {
  try {
    return { doc: JSON.parse(text) as unknown };
  } catch (err) {
    return { problems: [{ file, message: `JSON syntax error: ${reason(err)}` }] };
  }
}

export type FlowFormat = 'yaml' | 'json';

/**
 * Check a flow given as text (a practice's upload: YAML or JSON) exactly as a file in
 * callflows/ is checked: schema, graph rules (the disclosure rule among them) and audio.
 * `name` stands for the file in every problem. Never throws for a bad flow.
 */
export async function checkFlowText(text: string, format: FlowFormat, name: string, opts: LoadFlowsOptions = {}): Promise<FlowFileReport> {
  const parsed = format === 'json' ? parseJson(text, name) : parseYaml(text, name);
  if ('problems' in parsed) return { file: name, flow: undefined, problems: parsed.problems };
  let flow: Flow;
  try {
    flow = parseFlowDocument(parsed.doc, name);
  } catch (err) {
    if (err instanceof FlowError) return { file: name, flow: undefined, problems: err.problems };
    throw err;
  }
  const problems = [...checkFlowGraph(flow), ...(await checkAudio(flow, opts.audioDir ?? defaultAudioDir()))];
  return { file: name, flow, problems };
}

/** Check one flow file completely (YAML, schema, id = file name, graph, audio). Never throws for a bad flow. */
export async function checkFlowFile(file: string, opts: LoadFlowsOptions = {}): Promise<FlowFileReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { file, flow: undefined, problems: [{ file, message: `cannot read: ${reason(err)}` }] };
  }
  const parsed = parseYaml(text, file);
  if ('problems' in parsed) return { file, flow: undefined, problems: parsed.problems };
  let flow: Flow;
  try {
    flow = parseFlowDocument(parsed.doc, file);
  } catch (err) {
    if (err instanceof FlowError) return { file, flow: undefined, problems: err.problems };
    throw err;
  }
  const problems: FlowProblem[] = [];
  const expected = path.basename(file, FLOW_FILE_EXTENSION);
  if (flow.id !== expected) {
    problems.push({ file, message: `id "${flow.id}" must equal the file name "${expected}"` });
  }
  problems.push(...checkFlowGraph(flow));
  problems.push(...(await checkAudio(flow, opts.audioDir ?? defaultAudioDir())));
  return { file, flow, problems };
}

/** Check every *.yaml file in `dir` (other files are ignored), and that flow ids are unique. */
export async function checkFlowDir(dir: string, opts: LoadFlowsOptions = {}): Promise<FlowDirReport> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.endsWith(FLOW_FILE_EXTENSION))
      .map((entry) => entry.name)
      .sort();
  } catch (err) {
    return { files: [], problems: [{ file: dir, message: `cannot read flow directory: ${reason(err)}` }] };
  }
  if (names.length === 0) {
    return { files: [], problems: [{ file: dir, message: `no *${FLOW_FILE_EXTENSION} flow files` }] };
  }
  const files: FlowFileReport[] = [];
  for (const name of names) files.push(await checkFlowFile(path.join(dir, name), opts));

  const firstFile = new Map<string, string>();
  for (const report of files) {
    if (report.flow === undefined) continue;
    const other = firstFile.get(report.flow.id);
    if (other === undefined) firstFile.set(report.flow.id, report.file);
    else report.problems.push({ file: report.file, message: `duplicate flow id "${report.flow.id}" (also in ${other})` });
  }
  return { files, problems: [] };
}

export function problemsOf(report: FlowDirReport): FlowProblem[] {
  return [...report.problems, ...report.files.flatMap((f) => f.problems)];
}

/** Load every flow in `dir`, keyed by id. Throws one FlowError listing every problem in every file. */
export async function loadFlows(dir: string, opts: LoadFlowsOptions = {}): Promise<Map<string, Flow>> {
  const report = await checkFlowDir(dir, opts);
  const problems = problemsOf(report);
  if (problems.length > 0) throw new FlowError(problems);
  const flows = new Map<string, Flow>();
  for (const { flow } of report.files) if (flow !== undefined) flows.set(flow.id, flow);
  return flows;
}

/** Load one flow file. Throws FlowError listing every problem. */
export async function loadFlowFile(file: string, opts: LoadFlowsOptions = {}): Promise<Flow> {
  const report = await checkFlowFile(file, opts);
  if (report.problems.length > 0 || report.flow === undefined) throw new FlowError(report.problems);
  return report.flow;
}
