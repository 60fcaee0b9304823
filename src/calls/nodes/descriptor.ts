import type { z } from 'zod';
import type { NodeWithoutId } from '../flow-fields.js';
import type { FlowNode, NodeKind, Prompt } from '../flow-types.js';
import type { ResumeEvent, Turn } from '../turn.js';

/**
 * Everything about one node kind, in one place: its file schema, its edges, how the graph rules
 * treat it, what the engine does on entering it (`run`) and when the webhook it waited for
 * arrives (`resume`). The registry in ./index.ts is a mapped type over the kinds, so the
 * compiler demands every property of every kind.
 */

export type NodeOf<K extends NodeKind> = Extract<FlowNode, { kind: K }>;

/** An edge out of a node, labelled as the type spells it (`onExhausted`, `key 1`). */
export interface Edge {
  label: string;
  to: string;
}

/** After a node: go on along an edge (`via` is what the audit trail records), or stop here (the document ends: a wait, a hangup). */
export type Next = { to: string; via: string } | 'stop';

/** After a resume, also: ask the same node again (a wrong key, silence, a failed verification, a stale action). */
export type ResumeNext = Next | 'reprompt';

export interface NodeDescriptor<K extends NodeKind> {
  /** The node in the file (snake_case, strict) → the node without its id. */
  schema: z.ZodType<NodeWithoutId<NodeOf<K>>> & z.core.$ZodTypeDiscriminable;
  /** Every edge out of the node. */
  edges: (node: NodeOf<K>) => Edge[];
  /** Whether the webhook stops at this node (a <Gather>, <Dial> or <Record>); the others run straight on. */
  waitsForCaller: boolean;
  /**
   * Whether taking the edge needs the caller to press keys: false for every edge also taken when
   * nobody does anything (a <Gather> that times out, a <Dial> nobody answers, a silent <Record>).
   */
  needsKeypress: (label: string) => boolean;
  /** Every prompt of the node, named by its field in the file. */
  prompts: (node: NodeOf<K>) => Array<{ field: string; prompt: Prompt }>;
  /** Whether the node speaks facts about the patient: reachable only through a successful verification. */
  readsPatientFacts: boolean;
  /** Entering the node: `reprompt` when it is asked again after an answer that did not do. */
  run: (turn: Turn, node: NodeOf<K>, reprompt: boolean) => Next;
  /** The webhook the node waited for; an event that does not fit the node answers 'reprompt'. */
  resume: (turn: Turn, node: NodeOf<K>, event: ResumeEvent) => ResumeNext;
}

/** For kinds that never wait: a webhook naming them is stale or forged, so the node is asked again. */
export function neverWaits(): 'reprompt' {
  return 'reprompt';
}

/** The one edge of a node that only goes on. */
export function nextEdge(node: { next: string }): Edge[] {
  return [{ label: 'next', to: node.next }];
}

/** The two edges of a node that dials: `next` when the call connects, `onFail` when it does not. */
export function nextOrFailEdges(node: { next: string; onFail: string }): Edge[] {
  return [
    { label: 'next', to: node.next },
    { label: 'onFail', to: node.onFail },
  ];
}

/** The prompts of a node whose only prompt is its `prompt` field. */
export function ownPrompt(node: { prompt: Prompt }): Array<{ field: string; prompt: Prompt }> {
  return [{ field: 'prompt', prompt: node.prompt }];
}

export function noKeypress(): boolean {
  return false;
}
