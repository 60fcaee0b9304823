import { z } from 'zod';
import { AuditAction } from '../../audit/events.js';
import { nodeRef, typeError, type NodeWithoutId } from '../flow-fields.js';
import type { DiscloseNode, Language } from '../flow-types.js';
import { NeedsFact, VOICES } from '../turn.js';
import { neverWaits, nextEdge, noKeypress, type NodeDescriptor } from './descriptor.js';

function formatAppointment(startsAt: Date, timeZone: string, lang: Language): string {
  const locale = lang === 'es' ? 'es-US' : 'en-US';
  const day = new Intl.DateTimeFormat(locale, { timeZone, weekday: 'long', month: 'long', day: 'numeric' }).format(startsAt);
  const time = new Intl.DateTimeFormat(locale, { timeZone, hour: 'numeric', minute: '2-digit' }).format(startsAt);
  const end = (t: string): string => (t.endsWith('.') ? t : `${t}.`);
  return lang === 'es' ? end(`Su próxima cita es el ${day} a las ${time}`) : end(`Your next appointment is on ${day} at ${time}`);
}

const NO_APPOINTMENT: Record<Language, string> = {
  en: 'We do not have an upcoming appointment on file for you.',
  es: 'No tenemos una próxima cita registrada para usted.',
};

/**
 * `disclose`: speak one fact about the verified patient. Reads patient facts, so the graph
 * rules admit it only behind a verify node's success, and it refuses a call that is not verified.
 */
export const disclose: NodeDescriptor<'disclose'> = {
  schema: z
    .strictObject({
      kind: z.literal('disclose'),
      what: z.enum(['next_appointment'], typeError('must be next_appointment')),
      next: nodeRef,
    })
    .transform((raw): NodeWithoutId<DiscloseNode> => ({ ...raw })),
  edges: nextEdge,
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: () => [],
  readsPatientFacts: true,
  run: (turn, node) => {
    const patientId = turn.state.verifiedPatientId;
    if (!patientId) {
      // Unreachable for a flow that passed the load-time check; refuse all the same.
      turn.events.push({ action: AuditAction.DisclosureRefused, leg: 'parent', details: { node: node.id, reason: 'not_verified' } });
      return { to: node.next, via: 'refused' };
    }
    if (turn.ctx.facts.nextAppointment === undefined) throw new NeedsFact('nextAppointment', patientId);
    const appt = turn.ctx.facts.nextAppointment;
    const lang = turn.state.lang;
    turn.verbs.push({ verb: 'say', voice: VOICES[lang], text: appt ? formatAppointment(appt.startsAt, turn.ctx.practice.timeZone, lang) : NO_APPOINTMENT[lang] });
    turn.events.push({
      action: AuditAction.Disclosure,
      leg: 'parent',
      subjectId: patientId,
      details: { node: node.id, what: node.what, appointmentId: appt?.id ?? null },
    });
    return { to: node.next, via: 'next' };
  },
  resume: neverWaits,
};
