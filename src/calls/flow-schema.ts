import { z } from 'zod';
import type { Flow, FlowNode } from './flow-types.js';
import { quote, typeError, nodeRef, NODE_ID, FLOW_ID, type NodeWithoutId } from './flow-fields.js';
import { NODES } from './nodes/index.js';

/**
 * The schema of a call-flow file (callflows/*.yaml), in the file's snake_case, parsed into the
 * camelCase types of ./flow-types.ts. Every object is strict: an unknown field is refused, not
 * ignored. Graph rules (targets, reachability, the disclosure rule) live in ./flow-graph.ts.
 */

/** One thing wrong with a flow file; `node` when it is about one node. */
export interface FlowProblem {
  file: string;
  node?: string;
  message: string;
}

export function formatFlowProblem(p: FlowProblem): string {
  return p.node === undefined ? `${p.file}: ${p.message}` : `${p.file}: node ${p.node}: ${p.message}`;
}

/** A flow (or a directory of flows) was refused; `problems` lists every reason. */
export class FlowError extends Error {
  readonly problems: FlowProblem[];

  constructor(problems: FlowProblem[]) {
    const n = problems.length;
    super(`call flow check failed (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  ${formatFlowProblem(p)}`).join('\n')}`);
    this.name = 'FlowError';
    this.problems = problems;
  }
}

export { AUDIO_FILE, Bounds, FLOW_ID, KEYPAD_KEY, MAX_PROMPT_TEXT, NODE_ID, PLACEHOLDERS, badPlaceholders } from './flow-fields.js';


/** The kinds a file may use, in the order of the descriptors' registry (for messages). */
export const NODE_KINDS = Object.keys(NODES) as ReadonlyArray<FlowNode['kind']>;

/** Each kind's schema, from its descriptor (./nodes/), in the order of NODE_KINDS. */
const NODE_SCHEMAS = NODE_KINDS.map((kind) => NODES[kind].schema) as unknown as readonly [NodeSchema, ...NodeSchema[]];
type NodeSchema = z.ZodType<NodeWithoutId<FlowNode>> & z.core.$ZodTypeDiscriminable;

const nodeSchema = z.discriminatedUnion('kind', NODE_SCHEMAS, {
  error: `must be one of ${NODE_KINDS.join(', ')}`,
});

export const flowFileSchema = z.strictObject({
  id: z.string(typeError('must be text')).regex(FLOW_ID, { error: 'must be a flow id (a-z, 0-9, _ -)' }),
  description: z.string(typeError('must be text')).min(1, { error: 'must not be empty' }).max(500, { error: 'must be at most 500 characters' }),
  start: nodeRef,
  nodes: z
    .record(z.string().regex(NODE_ID, { error: 'must be a node id (a-z, 0-9, _; starting with a letter; at most 41 characters)' }), nodeSchema)
    .refine((o) => Object.keys(o).length > 0, { error: 'must have at least one node' }),
});

/** Per-parse messages for the issues every field shares (missing, unknown fields). */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type' && iss.input === undefined) return 'is required';
  if (iss.code === 'unrecognized_keys') {
    const s = iss.keys.length === 1 ? '' : 's';
    return `unknown field${s} ${iss.keys.map(quote).join(', ')}`;
  }
  return undefined;
};

function toProblem(issue: z.core.$ZodIssue, file: string): FlowProblem {
  const path = issue.path.map(String);
  let message = issue.message;
  if (issue.code === 'invalid_key') {
    // The key itself is wrong: the last path element is the key, the nested issue says why.
    const key = path.pop() ?? '';
    message = `key ${quote(key)} ${issue.issues[0]?.message ?? 'is not allowed'}`;
  }
  if (path[0] === 'nodes' && path.length >= 2) {
    const node = path[1] ?? '';
    const field = path.slice(2).join('.');
    return { file, node: NODE_ID.test(node) ? node : quote(node), message: field === '' ? message : `${field}: ${message}` };
  }
  const field = path.join('.');
  return { file, message: field === '' ? message : `${field}: ${message}` };
}

/**
 * Check one parsed YAML document against the schema and build the Flow (ids from the keys of
 * `nodes`). Graph rules are not checked here (see checkFlowGraph). Throws FlowError.
 */
export function parseFlowDocument(doc: unknown, file: string): Flow {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new FlowError([{ file, message: 'must be a mapping with id, description, start and nodes' }]);
  }
  const result = flowFileSchema.safeParse(doc, { error: errorMap });
  if (!result.success) {
    throw new FlowError(result.error.issues.map((issue) => toProblem(issue, file)));
  }
  const { id, description, start, nodes } = result.data;
  const withIds: Record<string, FlowNode> = {};
  for (const [nodeId, node] of Object.entries(nodes)) {
    withIds[nodeId] = { ...node, id: nodeId };
  }
  return { id, description, start, nodes: withIds, file };
}
