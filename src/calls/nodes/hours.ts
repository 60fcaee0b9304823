import { z } from 'zod';
import { hoursStatus } from '../../practices/hours.js';
import { nodeRef, type NodeWithoutId } from '../flow-fields.js';
import type { HoursNode } from '../flow-types.js';
import { neverWaits, noKeypress, type NodeDescriptor } from './descriptor.js';

/** `hours`: branch on the practice's hours, in the practice's time zone. */
export const hours: NodeDescriptor<'hours'> = {
  schema: z
    .strictObject({ kind: z.literal('hours'), open: nodeRef, closed: nodeRef, holiday: nodeRef })
    .transform((raw): NodeWithoutId<HoursNode> => ({ ...raw })),
  edges: (node) => [
    { label: 'open', to: node.open },
    { label: 'closed', to: node.closed },
    { label: 'holiday', to: node.holiday },
  ],
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: () => [],
  readsPatientFacts: false,
  run: (turn, node) => {
    const status = hoursStatus(turn.ctx.now, turn.ctx.practice.timeZone, turn.ctx.practice.weeklyHours, turn.ctx.practice.holidays);
    return { to: node[status], via: status };
  },
  resume: neverWaits,
};
