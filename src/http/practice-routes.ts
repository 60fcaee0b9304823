import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { LANGUAGES } from '../calls/flow-types.js';
import { E164Schema, HolidaysSchema, IdleLogoffMinutesSchema, PortalUrlSchema, TimeZoneSchema, WeeklyHoursPatchSchema } from '../practices/settings.js';
import { getPractice, listPracticeNumbers, removePracticeNumber, updatePractice, upsertPracticeNumber } from '../practices/store.js';
import { actorOf, permit } from './api-auth.js';
import { invalidatePracticeCache } from '../calls/voice-service.js';
import { badRequest, zodProblems } from './responses.js';
import { SmsAutoReplySchema } from '../texts/replies.js';
import { hoursStatus, nextOpening } from '../practices/hours.js';
import type { Practice } from '../practices/store.js';
import { MESSAGING_SERVICE_SID } from '../adapters/twilio-rest.js';

const Uuid = z.string().uuid();

/** The body of `PUT /api/practices/:practiceId/numbers/:e164`: which flow the number runs. */
export const PracticeNumberBody = z.strictObject({ flowId: z.string().min(1).max(60) });

/** Settings a practice admin may change. Strict: an unknown field is an error, not ignored. */
export const PracticePatchSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(120),
    greetingName: z.string().trim().min(1).max(120).nullable(),
    timeZone: TimeZoneSchema,
    fallbackNumber: E164Schema.nullable(),
    frontDeskNumber: E164Schema.nullable(),
    languages: z
      .array(z.enum(LANGUAGES))
      .min(1)
      .refine((l) => new Set(l).size === l.length, { message: 'languages must not repeat' }),
    /** Per day: a day given replaces that day only (`null` or `[]` closes it); the others keep their hours. */
    weeklyHours: WeeklyHoursPatchSchema,
    holidays: HolidaysSchema,
    voicemailRetentionDays: z.number().int().min(1).max(3650),
    // Off for good: Twilio transcribes only 2–120 s recordings, and a transcript would be PHI with nowhere safe to go.
    voicemailTranscription: z.literal(false, { error: 'voicemail transcription is not supported (see README, Voicemail)' }),
    /** The provider access line; it must be one of the practice's numbers (its voice URL is /twilio/voice/access). */
    accessNumber: E164Schema.nullable(),
    /** The automatic reply to a patient's text (must name 911; {practice_name}, {callback_number}); null: the built-in one. */
    smsAutoReply: SmsAutoReplySchema.nullable(),
    /** Hours after the next opening by which a routine callback is due (src/tasks/due.ts). */
    routineCallbackHours: z.number().int().min(0).max(72),
    /** Automatic logoff after this many minutes without a request (HIPAA 164.312(a)(2)(iii)). */
    idleLogoffMinutes: IdleLogoffMinutesSchema,
    /** The patient portal (https), the link of the portal notice e-mail; null: none (that notice cannot be sent). */
    patientPortalUrl: PortalUrlSchema.nullable(),
    /** The Twilio Messaging Service patient SMS go out through (A2P 10DLC); null: none, so patient SMS are refused. */
    messagingServiceSid: z.string().regex(MESSAGING_SERVICE_SID, { message: 'expected a Twilio Messaging Service SID: MG and 32 lower-case hex digits' }).nullable(),
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, { message: 'nothing to change' });

/** Open, closed or a holiday at `now` on the practice's wall clock, and when it next opens (the console's "open right now"). */
function hoursNow(practice: Practice, now: Date): { status: 'open' | 'closed' | 'holiday'; nextOpening: string | null } {
  const next = nextOpening(now, practice.timeZone, practice.weeklyHours, practice.holidays);
  return { status: hoursStatus(now, practice.timeZone, practice.weeklyHours, practice.holidays), nextOpening: next ? next.toISOString() : null };
}

/** Practice settings and phone numbers, managed by the practice's admins. */
export function practiceRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/flows', async (req, res) => {
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], null);
    if (!scope) return;
    res.json({ flows: [...services.flows.values()].map((f) => ({ id: f.id, description: f.description })) });
  });

  router.get('/practices/:practiceId', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], id.data, id.data);
    if (!scope) return;
    const practice = await getPractice(scope);
    if (!practice) return void res.status(404).json({ error: 'not_found' });
    res.json({ ...practice, numbers: await listPracticeNumbers(scope), hoursNow: hoursNow(practice, services.clock()) });
  });

  router.patch('/practices/:practiceId', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], id.data, id.data);
    if (!scope) return;
    const patch = PracticePatchSchema.safeParse(req.body);
    if (!patch.success) return badRequest(res, zodProblems(patch.error));
    const access = patch.data.accessNumber;
    if (access && !(await listPracticeNumbers(scope)).some((n) => n.e164 === access)) {
      return badRequest(res, "accessNumber: must be one of the practice's numbers; add it first with PUT /api/practices/{id}/numbers/{e164}");
    }
    const { weeklyHours, ...settings } = patch.data;
    const updated = await updatePractice(scope, settings, weeklyHours ? { weeklyHoursDays: weeklyHours } : {});
    invalidatePracticeCache(services);
    if (!updated) return void res.status(404).json({ error: 'not_found' });
    await services.audit({
      action: AuditAction.AdminPracticeUpdated,
      actor: actorOf(res),
      practiceId: id.data,
      subjectId: id.data,
      details: { fields: Object.keys(patch.data).sort() },
    });
    res.json({ ...updated, numbers: await listPracticeNumbers(scope), hoursNow: hoursNow(updated, services.clock()) });
  });

  router.put('/practices/:practiceId/numbers/:e164', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    const number = E164Schema.safeParse(req.params.e164);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    if (!number.success) return badRequest(res, 'the number must be E.164, such as +12025550100 (URL-encode the +)');
    const scope = await permit(services, req, res, ['admin'], id.data, id.data);
    if (!scope) return;
    const body = PracticeNumberBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    if (!services.flows.has(body.data.flowId)) {
      return badRequest(res, `flowId: no flow "${body.data.flowId}"; known: ${[...services.flows.keys()].join(', ')}`);
    }
    const outcome = await upsertPracticeNumber(scope, number.data, body.data.flowId);
    invalidatePracticeCache(services);
    if (outcome === 'taken') return void res.status(409).json({ error: 'conflict', message: 'that number belongs to another practice' });
    await services.audit({
      action: AuditAction.AdminNumberUpdated,
      actor: actorOf(res),
      practiceId: id.data,
      subjectId: id.data,
      details: { number: number.data, flowId: body.data.flowId, change: outcome },
    });
    res.status(outcome === 'created' ? 201 : 200).json({ e164: number.data, flowId: body.data.flowId });
  });

  router.delete('/practices/:practiceId/numbers/:e164', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    const number = E164Schema.safeParse(req.params.e164);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    if (!number.success) return badRequest(res, 'the number must be E.164, such as +12025550100 (URL-encode the +)');
    const scope = await permit(services, req, res, ['admin'], id.data, id.data);
    if (!scope) return;
    const removed = await removePracticeNumber(scope, number.data);
    invalidatePracticeCache(services);
    if (!removed) return void res.status(404).json({ error: 'not_found' });
    await services.audit({
      action: AuditAction.AdminNumberUpdated,
      actor: actorOf(res),
      practiceId: id.data,
      subjectId: id.data,
      details: { number: number.data, change: 'removed' },
    });
    res.status(204).end();
  });

  return router;
}
