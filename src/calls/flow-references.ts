import type { Flow } from './flow-types.js';
import type { FlowProblem } from './flow-schema.js';

/**
 * What a flow names outside itself that belongs to a practice: contacts (`transfer` with
 * `to: contact`) and escalation policies (`dial_oncall` with `policy`). A practice's upload is
 * refused while one of them is missing, naming the node; at call time a contact removed since
 * fails over along `on_fail`, and a policy removed since rings the default policy.
 */
export interface FlowReferences {
  contacts: Array<{ node: string; key: string }>;
  policies: Array<{ node: string; name: string }>;
}

export function flowReferences(flow: Flow): FlowReferences {
  const refs: FlowReferences = { contacts: [], policies: [] };
  for (const node of Object.values(flow.nodes)) {
    if (node.kind === 'transfer' && node.contact !== undefined) refs.contacts.push({ node: node.id, key: node.contact });
    if (node.kind === 'dial_oncall' && node.policy !== undefined) refs.policies.push({ node: node.id, name: node.policy });
  }
  return refs;
}

/** The references a practice cannot satisfy, as problems of the upload named `file`. */
export function missingReferences(flow: Flow, file: string, have: { contacts: ReadonlySet<string>; policies: ReadonlySet<string> }): FlowProblem[] {
  const refs = flowReferences(flow);
  return [
    ...refs.contacts
      .filter((r) => !have.contacts.has(r.key))
      .map((r) => ({ file, node: r.node, message: `contact: the practice has no contact "${r.key}" (add it with PUT /api/practices/{practiceId}/contacts/${r.key})` })),
    ...refs.policies
      .filter((r) => !have.policies.has(r.name))
      .map((r) => ({ file, node: r.node, message: `policy: the practice has no escalation policy named "${r.name}"` })),
  ];
}
