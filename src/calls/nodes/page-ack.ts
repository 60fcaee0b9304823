import { z } from 'zod';
import { Bounds, intBetween, nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { Language, PageAckNode } from '../flow-types.js';
import { VOICES, type PageAckOutcome } from '../turn.js';
import { nextEdge, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

/** Deliberately the same answer for "no such page" and "you are not a provider": nothing to probe. */
const PAGE_ACK_REPLY: Record<PageAckOutcome, Record<Language, string>> = {
  acknowledged: { en: 'The page is acknowledged. Paging has stopped.', es: 'El aviso quedó confirmado. Se detuvieron los avisos.' },
  already: { en: 'That page was already acknowledged.', es: 'Ese aviso ya estaba confirmado.' },
  not_found: { en: 'We could not acknowledge that reference.', es: 'No pudimos confirmar esa referencia.' },
  not_provider: { en: 'We could not acknowledge that reference.', es: 'No pudimos confirmar esa referencia.' },
  timeout: { en: 'We did not receive a reference.', es: 'No recibimos ninguna referencia.' },
};

/** `page_ack`: the staff line; a provider keys a page's reference to acknowledge it (the edge looks it up). */
export const pageAck: NodeDescriptor<'page_ack'> = {
  schema: z
    .strictObject({ kind: z.literal('page_ack'), prompt: promptSchema, timeout_seconds: intBetween(Bounds.verifyTimeoutSeconds), next: nodeRef })
    .transform((raw): NodeWithoutId<PageAckNode> => ({ kind: raw.kind, prompt: raw.prompt, timeoutSeconds: raw.timeout_seconds, next: raw.next })),
  edges: nextEdge,
  waitsForCaller: true,
  needsKeypress: noKeypress,
  prompts: ownPrompt,
  readsPatientFacts: false,
  run: (turn, node) => {
    const g = turn.gather({ finishOnKey: '#', timeout: node.timeoutSeconds, action: turn.actionUrl(node.id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
    turn.speak(node.prompt, g);
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (turn, node, event) => {
    if (event.kind !== 'page_ack') return 'reprompt';
    turn.say(PAGE_ACK_REPLY[event.outcome]);
    return { to: node.next, via: `page_ack ${event.outcome}` };
  },
};
