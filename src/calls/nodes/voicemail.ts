import { z } from 'zod';
import { AuditAction } from '../../audit/events.js';
import { Bounds, intBetween, nodeRef, promptSchema, reason, urgency, type NodeWithoutId } from '../flow-fields.js';
import type { VoicemailNode } from '../flow-types.js';
import { RECORDING_STATUS_PATH } from '../turn.js';
import { nextEdge, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

/** `voicemail`: take a message; the recording callback carries the node, urgency and whether the caller was verified. */
export const voicemail: NodeDescriptor<'voicemail'> = {
  schema: z
    .strictObject({
      kind: z.literal('voicemail'),
      prompt: promptSchema,
      urgency,
      reason: reason.optional(),
      max_length_seconds: intBetween(Bounds.voicemailMaxLengthSeconds),
      next: nodeRef,
    })
    .transform(
      (raw): NodeWithoutId<VoicemailNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        urgency: raw.urgency,
        ...(raw.reason !== undefined ? { reason: raw.reason } : {}),
        maxLengthSeconds: raw.max_length_seconds,
        next: raw.next,
      }),
    ),
  edges: nextEdge,
  waitsForCaller: true,
  needsKeypress: noKeypress,
  prompts: ownPrompt,
  readsPatientFacts: false,
  run: (turn, node) => {
    turn.speak(node.prompt);
    turn.verbs.push({
      verb: 'record',
      attributes: {
        action: turn.actionUrl(node.id),
        method: 'POST',
        maxLength: node.maxLengthSeconds,
        playBeep: true,
        finishOnKey: '#',
        timeout: 8,
        trim: 'trim-silence',
        recordingStatusCallback: `${RECORDING_STATUS_PATH}?n=${encodeURIComponent(node.id)}&u=${node.urgency}&v=${turn.state.verifiedPatientId ? 1 : 0}`,
        recordingStatusCallbackMethod: 'POST',
        recordingStatusCallbackEvent: ['completed', 'absent'],
      },
    });
    // Twilio skips the action when nothing was recorded and runs the next verb instead.
    turn.verbs.push({ verb: 'redirect', method: 'POST', url: turn.actionUrl(node.id, '&empty=1') });
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (turn, node, event) => {
    if (event.kind !== 'record_done') return 'reprompt';
    turn.events.push({ action: AuditAction.VoicemailTaken, leg: 'parent', details: { node: node.id, urgency: node.urgency, recorded: event.recorded, verified: turn.state.verifiedPatientId !== null } });
    return { to: node.next, via: event.recorded ? 'recorded' : 'nothing_recorded' };
  },
};
