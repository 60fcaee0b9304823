import { KEYED_NUMBER } from './flow-fields.js';
import type { FlowProblem } from './flow-schema.js';
import { LANGUAGES, type Flow, type FlowNode, type Language, type NodeKind } from './flow-types.js';
import { NODES, edgesOf, promptsOf } from './nodes/index.js';

export { edgesOf, promptsOf } from './nodes/index.js';

/**
 * Graph rules over a parsed flow (pure). Each returns problems; none means the flow may run.
 * - every edge and `start` name an existing node; every node is reachable from `start`;
 * - no loop of nodes that never wait for the caller (the webhook would spin);
 * - no loop that can go round again without the caller pressing a key (an unanswered <Dial>,
 *   a silent <Record>, a menu's timeouts): the call would repeat until the step limit;
 * - a node that reads patient facts (a `disclose`) is reachable only through a `verify` node's
 *   `success` edge;
 * - the caller's own keyed digits ({keyed_number}) are spoken only by a callback_number node's
 *   read-back, which is therefore no disclosure and needs no verification;
 * - a `verify` node's `failure` branch still reaches help (dial_oncall or voicemail);
 * - every prompt a caller can hear has text in every language the caller can choose.
 */

/**
 * Whether the webhook stops at this node: a <Gather> waits for keys, a <Dial> or <Record> ends
 * the document. The others run straight on to their next node. (The kind's descriptor says.)
 */
export function stopsForCaller(kind: NodeKind): boolean {
  return NODES[kind].waitsForCaller;
}

/** Whether taking this edge needs the caller to press keys (the kind's descriptor says). */
function edgeNeedsKeypress(kind: NodeKind, label: string): boolean {
  return NODES[kind].needsKeypress(label);
}

/** Kinds where a failed verification still gets help. */
const HELP_KINDS: ReadonlySet<NodeKind> = new Set(['dial_oncall', 'voicemail']);

/** Edge labels as the file spells them (`onExhausted` → `on_exhausted`). */
function fileLabel(label: string): string {
  return label.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

interface Edge {
  label: string;
  to: string;
}

/** A step of a path: the node left, and the edge taken out of it. */
type Hop = { from: string; label: string };

/** Edges to nodes that exist (unknown targets are reported once, by checkTargets). */
function edges(flow: Flow, node: FlowNode, opts: { skipVerifySuccess?: boolean } = {}): Edge[] {
  return edgesOf(node)
    .filter((e) => Object.hasOwn(flow.nodes, e.to))
    .filter((e) => !(opts.skipVerifySuccess === true && node.kind === 'verify' && e.label === 'success'))
    .map((e) => ({ label: fileLabel(e.label), to: e.to }));
}

function nodeOf(flow: Flow, id: string): FlowNode | undefined {
  return Object.hasOwn(flow.nodes, id) ? flow.nodes[id] : undefined;
}

/**
 * Breadth-first walk from `from`; returns how each node was first reached (shortest paths).
 * The start node maps to null.
 */
function walk(
  flow: Flow,
  from: string,
  opts: { skipVerifySuccess?: boolean } = {},
): Map<string, Hop | null> {
  const seen = new Map<string, Hop | null>([[from, null]]);
  const queue = [from];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    const node = nodeOf(flow, id);
    if (node === undefined) continue;
    for (const e of edges(flow, node, opts)) {
      if (seen.has(e.to)) continue;
      seen.set(e.to, { from: id, label: e.label });
      queue.push(e.to);
    }
  }
  return seen;
}

/** `main_menu (key 3)`: a node and the edge taken out of it, unless `next`. */
function hopText(hop: Hop): string {
  return hop.label === 'next' ? hop.from : `${hop.from} (${hop.label})`;
}

/** `greeting → main_menu (key 3) → next_appointment`: the edge taken out of each node, unless `next`. */
function pathTo(seen: ReturnType<typeof walk>, to: string): string {
  const steps: string[] = [to];
  for (let hop = seen.get(to); hop; hop = seen.get(hop.from)) steps.unshift(hopText(hop));
  return steps.join(' → ');
}

/**
 * The shortest way from `start` back to itself along the edges `follow` accepts (breadth
 * first): each node left on the way, with the edge taken out of it. Null when there is none.
 */
function cycleThrough(flow: Flow, start: string, follow: (node: FlowNode, e: Edge) => boolean): Hop[] | null {
  const parent = new Map<string, Hop>();
  const queue = [start];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    const current = nodeOf(flow, id);
    if (current === undefined) continue;
    for (const e of edges(flow, current)) {
      if (!follow(current, e)) continue;
      if (e.to === start) {
        const hops: Hop[] = [{ from: id, label: e.label }];
        for (let p = parent.get(id); p !== undefined; p = parent.get(p.from)) hops.unshift(p);
        return hops;
      }
      if (parent.has(e.to)) continue;
      parent.set(e.to, { from: id, label: e.label });
      queue.push(e.to);
    }
  }
  return null;
}

function checkTargets(flow: Flow): FlowProblem[] {
  const problems: FlowProblem[] = [];
  if (!Object.hasOwn(flow.nodes, flow.start)) {
    problems.push({ file: flow.file, message: `start → unknown node "${flow.start}"` });
  }
  for (const node of Object.values(flow.nodes)) {
    for (const e of edgesOf(node)) {
      if (!Object.hasOwn(flow.nodes, e.to)) {
        problems.push({ file: flow.file, node: node.id, message: `${fileLabel(e.label)} → unknown node "${e.to}"` });
      }
    }
  }
  return problems;
}

function checkReachable(flow: Flow): FlowProblem[] {
  const seen = walk(flow, flow.start);
  return Object.keys(flow.nodes)
    .filter((id) => !seen.has(id))
    .map((id) => ({ file: flow.file, node: id, message: 'unreachable from start' }));
}

/** Loops among nodes that never stop for the caller: the engine would go round without end. */
function checkSilentCycles(flow: Flow): FlowProblem[] {
  const problems: FlowProblem[] = [];
  const silent = (id: string): boolean => {
    const node = nodeOf(flow, id);
    return node !== undefined && !stopsForCaller(node.kind);
  };
  const covered = new Set<string>();
  for (const node of Object.values(flow.nodes)) {
    if (!silent(node.id) || covered.has(node.id)) continue;
    // Shortest way back to this node through silent nodes only.
    const hops = cycleThrough(flow, node.id, (_from, e) => silent(e.to));
    if (hops === null) continue;
    for (const h of hops) covered.add(h.from);
    problems.push({
      file: flow.file,
      node: node.id,
      message: `loop with no caller input (say/hours/disclose only): ${[...hops.map((h) => h.from), node.id].join(' → ')}`,
    });
  }
  return problems;
}

/**
 * Loops through at least one node that stops the webhook (a <Gather>, <Dial> or <Record>) but
 * can still go round without a caller keypress: a transfer whose on_fail leads back to it, an
 * on-call dial that falls back to itself, a menu whose on_exhausted returns to it. Nobody
 * answering, or a caller who stays silent, would keep the call going round until the step
 * limit. Loops of silent nodes only are reported by checkSilentCycles.
 */
function checkUnattendedCycles(flow: Flow): FlowProblem[] {
  const problems: FlowProblem[] = [];
  const covered = new Set<string>();
  for (const node of Object.values(flow.nodes)) {
    if (!stopsForCaller(node.kind) || covered.has(node.id)) continue;
    // Shortest way back to this node along edges that need no keypress.
    const hops = cycleThrough(flow, node.id, (from, e) => !edgeNeedsKeypress(from.kind, e.label));
    if (hops === null) continue;
    for (const h of hops) covered.add(h.from);
    problems.push({
      file: flow.file,
      node: node.id,
      message: `loop that can repeat without a caller keypress (nobody answering a dial or a silent caller keeps it going): ${[...hops.map(hopText), node.id].join(' → ')}`,
    });
  }
  return problems;
}

/** The disclosure rule: no way from start to a node that reads patient facts that skips every verify success. */
function checkDisclosure(flow: Flow): FlowProblem[] {
  const seen = walk(flow, flow.start, { skipVerifySuccess: true });
  return Object.values(flow.nodes)
    .filter((node) => NODES[node.kind].readsPatientFacts && seen.has(node.id))
    .map((node) => ({
      file: flow.file,
      node: node.id,
      message: `${node.kind} reachable without verification: ${pathTo(seen, node.id)}`,
    }));
}

/**
 * The one prompt that may say what the caller keyed: a callback_number node's read-back, which
 * says back the digits the caller has just pressed and nothing else (the node reads no patient
 * facts, so the disclosure rule does not hold it behind a verify). The schemas admit the
 * placeholder there only; this keeps it so should another kind's schema ever let it through.
 */
const KEYED_ECHO: Partial<Record<NodeKind, string>> = { callback_number: 'read_back' };

function checkKeyedEcho(flow: Flow): FlowProblem[] {
  const problems: FlowProblem[] = [];
  for (const node of Object.values(flow.nodes)) {
    for (const { field, prompt } of promptsOf(node)) {
      if (KEYED_ECHO[node.kind] === field) continue;
      if (Object.values(prompt.text).some((t) => t?.includes(`{${KEYED_NUMBER}}`) === true)) {
        problems.push({ file: flow.file, node: node.id, message: `${field}: {${KEYED_NUMBER}} may only be read back by a callback_number node's read_back` });
      }
    }
  }
  return problems;
}

/** A caller who fails verification must still be able to reach the on-call provider or leave a message. */
function checkVerifyFailure(flow: Flow): FlowProblem[] {
  const problems: FlowProblem[] = [];
  for (const node of Object.values(flow.nodes)) {
    if (node.kind !== 'verify' || !Object.hasOwn(flow.nodes, node.failure)) continue;
    const seen = walk(flow, node.failure, { skipVerifySuccess: true });
    const help = [...seen.keys()].some((id) => {
      const reached = nodeOf(flow, id);
      return reached !== undefined && HELP_KINDS.has(reached.kind);
    });
    if (!help) {
      problems.push({
        file: flow.file,
        node: node.id,
        message: `failure → "${node.failure}" reaches no dial_oncall or voicemail node: a caller who fails verification must still reach help`,
      });
    }
  }
  return problems;
}

/**
 * Every prompt a caller can hear after choosing a language has text in that language; a
 * language node's own prompt, and all_languages prompts, in every language offered.
 */
function checkLanguages(flow: Flow): FlowProblem[] {
  const problems: FlowProblem[] = [];
  const reported = new Set<string>();
  const needText = (node: FlowNode, langs: Iterable<Language>, why: (lang: Language) => string): void => {
    for (const { field, prompt } of promptsOf(node)) {
      for (const lang of langs) {
        const key = `${node.id}\u0000${field}\u0000${lang}`;
        if (prompt.text[lang] !== undefined || reported.has(key)) continue;
        reported.add(key);
        problems.push({ file: flow.file, node: node.id, message: `${field}: no "${lang}" text, but ${why(lang)}` });
      }
    }
  };

  const offeredAnywhere = new Set<Language>(['en']);
  for (const node of Object.values(flow.nodes)) {
    if (node.kind !== 'language') continue;
    const offered = new Set<Language>([...Object.values(node.options), node.default]);
    for (const lang of offered) offeredAnywhere.add(lang);
    const why = (lang: Language): string => `language node ${node.id} offers ${lang}`;
    needText(node, offered, why);
    for (const id of walk(flow, node.next).keys()) {
      const reached = nodeOf(flow, id);
      if (reached !== undefined) needText(reached, offered, why);
    }
  }
  const allLangs = LANGUAGES.filter((lang) => offeredAnywhere.has(lang));
  for (const node of Object.values(flow.nodes)) {
    if (node.kind === 'say' && node.allLanguages === true) {
      needText(node, allLangs, (lang) => `all_languages is set and the flow offers ${lang}`);
    }
  }
  return problems;
}

/** All graph problems of a schema-valid flow; empty when it may run. */
export function checkFlowGraph(flow: Flow): FlowProblem[] {
  const targets = checkTargets(flow);
  const startKnown = Object.hasOwn(flow.nodes, flow.start);
  return [
    ...targets,
    ...(startKnown ? checkReachable(flow) : []),
    ...checkSilentCycles(flow),
    ...checkUnattendedCycles(flow),
    ...(startKnown ? checkDisclosure(flow) : []),
    ...checkKeyedEcho(flow),
    ...checkVerifyFailure(flow),
    ...checkLanguages(flow),
  ];
}
