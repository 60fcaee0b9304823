import type { FlowNode, NodeKind, Prompt } from '../flow-types.js';
import type { ResumeEvent, Turn } from '../turn.js';
import { callbackNumber } from './callback-number.js';
import type { Edge, Next, NodeDescriptor, ResumeNext } from './descriptor.js';
import { dialOnCall } from './dial-oncall.js';
import { disclose } from './disclose.js';
import { hangup } from './hangup.js';
import { hours } from './hours.js';
import { languageChoice } from './language.js';
import { menu } from './menu.js';
import { optOut } from './opt-out.js';
import { pageAck } from './page-ack.js';
import { say } from './say.js';
import { transfer } from './transfer.js';
import { verify } from './verify.js';
import { voicemail } from './voicemail.js';

export type { Edge, Next, NodeDescriptor, NodeOf, ResumeNext } from './descriptor.js';

/**
 * Every node kind's descriptor. A mapped type over the kinds: a new kind in flow-types.ts does
 * not compile until it has a descriptor here, with every property.
 */
export const NODES: { readonly [K in NodeKind]: NodeDescriptor<K> } = {
  say,
  menu,
  hours,
  language: languageChoice,
  verify,
  disclose,
  dial_oncall: dialOnCall,
  voicemail,
  transfer,
  page_ack: pageAck,
  opt_out: optOut,
  callback_number: callbackNumber,
  hangup,
};

/**
 * The descriptor of a node's kind, typed for any node. (TypeScript cannot correlate `NODES[n.kind]`
 * with `n` on its own; each descriptor is typed for its kind where it is defined.)
 */
function descriptorOf(node: FlowNode): NodeDescriptor<NodeKind> {
  return NODES[node.kind] as unknown as NodeDescriptor<NodeKind>;
}

/** Every edge out of a node, labelled, for graph checks. */
export function edgesOf(node: FlowNode): Edge[] {
  return descriptorOf(node).edges(node);
}

/** Every prompt of a node, named by its field in the file. */
export function promptsOf(node: FlowNode): Array<{ field: string; prompt: Prompt }> {
  return descriptorOf(node).prompts(node);
}

export function runNode(turn: Turn, node: FlowNode, reprompt: boolean): Next {
  return descriptorOf(node).run(turn, node, reprompt);
}

export function resumeNode(turn: Turn, node: FlowNode, event: ResumeEvent): ResumeNext {
  return descriptorOf(node).resume(turn, node, event);
}
