import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import type { ApiRole } from '../auth/api-keys.js';
import { AuditAction } from '../audit/events.js';
import { E164Schema } from '../practices/settings.js';
import { patientIdsByPhone } from '../patients/store.js';
import { addPatient, deactivatePatient, listPatients, PatientInput, PatientListQuery, PatientPatch, PatientSearch, readPatient, searchPatients, updatePatient } from '../patients/records.js';
import { mergePatients } from '../patients/merge.js';
import { recallDuePage, RecallDueQuery } from '../patients/recall.js';
import {
  addAppointment,
  AppointmentInput,
  AppointmentListQuery,
  AppointmentPatch,
  cancelAppointment,
  changeAppointment,
  getAppointment,
  listAppointments,
  nextAppointment,
  type AppointmentRefusal,
} from '../patients/appointments.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';

/**
 * Patients and appointments in the admin API, scoped to the key's own practice. Names, dates of
 * birth and numbers travel in bodies only (search is a POST), never in a URL; ids do. The CSV
 * imports are in ./import-routes.ts.
 */

const WRITE: readonly ApiRole[] = ['admin', 'staff'];
const READ: readonly ApiRole[] = ['admin', 'staff'];
const APPOINTMENT_READ: readonly ApiRole[] = ['admin', 'staff', 'provider'];
const ADMIN: readonly ApiRole[] = ['admin'];

export const PatientIdParams = z.object({ patientId: z.uuid({ message: 'expected a UUID' }) });
export const AppointmentIdParams = z.object({ id: z.uuid({ message: 'expected a UUID' }) });
/** A phone number in a body (never a URL). */
export const LookupBody = z.strictObject({ phone: E164Schema });
export const MergeBody = z.strictObject({ duplicateId: z.uuid({ message: 'expected a UUID' }) });

function parseId(req: express.Request, res: express.Response): string | null {
  const p = PatientIdParams.safeParse(req.params);
  if (!p.success) {
    badRequest(res, zodProblems(p.error));
    return null;
  }
  return p.data.patientId;
}

function appointmentId(req: express.Request, res: express.Response): string | null {
  const p = AppointmentIdParams.safeParse(req.params);
  if (!p.success) {
    badRequest(res, zodProblems(p.error));
    return null;
  }
  return p.data.id;
}

function conflict(res: express.Response, existingId: string): void {
  res.status(409).json({ error: 'conflict', message: 'a patient with the same MRN, or the same name and date of birth, exists', existingId });
}

function refuseAppointment(res: express.Response, r: AppointmentRefusal): void {
  const status = { not_found: 404, conflict: 409, invalid: 400 }[r.reason];
  res.status(status).json({ error: { not_found: 'not_found', conflict: 'conflict', invalid: 'bad_request' }[r.reason], message: r.message });
}

export function patientRouter(services: Services): express.Router {
  const router = express.Router();
  const k = services.keyring;

  // --- Patients ---------------------------------------------------------------
  router.get('/patients', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    const q = PatientListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    res.json({ patients: await listPatients(scope, k, q.data), limit: q.data.limit, offset: q.data.offset });
  });

  router.post('/patients', async (req, res) => {
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId);
    if (!scope) return;
    const body = PatientInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await addPatient(scope, k, body.data);
    if (!r.ok) return conflict(res, r.existingId);
    await services.audit({ action: AuditAction.AdminPatientCreated, actor: actorOf(res), practiceId: scope.practiceId, subjectId: r.id, details: { fields: Object.keys(body.data).sort() } });
    res.status(201).json({ id: r.id });
  });

  // Finding a patient by number: the number in the body (never a URL), matched by blind index.
  router.post('/patients/lookup', async (req, res) => {
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId);
    if (!scope) return;
    const body = LookupBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    res.json({ patientIds: await patientIdsByPhone(scope, k, body.data.phone) });
  });

  router.post('/patients/search', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    const body = PatientSearch.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    res.json({ patients: await searchPatients(scope, k, body.data), limit: body.data.limit, offset: body.data.offset });
  });

  // Patients due for recall in a window of days: ids and dates only, paged by id (before
  // /patients/:patientId, which would take `recall-due` for an id).
  router.get('/patients/recall-due', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    const q = RecallDueQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const patients = await recallDuePage(scope, { from: q.data.from, to: q.data.to, limit: q.data.limit, ...(q.data.after ? { after: q.data.after } : {}) });
    const last = patients.at(-1);
    res.json({ patients, nextAfter: patients.length === q.data.limit && last ? last.id : null });
  });

  router.get('/patients/:patientId', async (req, res) => {
    const id = parseId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId, id);
    if (!scope) return;
    const patient = await readPatient(scope, k, id);
    if (!patient) return notFound(res);
    res.json(patient);
  });

  router.patch('/patients/:patientId', async (req, res) => {
    const id = parseId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, id);
    if (!scope) return;
    const body = PatientPatch.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await updatePatient(scope, k, id, body.data);
    if (!r.ok) return r.reason === 'not_found' ? notFound(res) : conflict(res, r.existingId);
    await services.audit({ action: AuditAction.AdminPatientUpdated, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id, details: { fields: r.changed } });
    res.json(await readPatient(scope, k, id));
  });

  router.post('/patients/:patientId/deactivate', async (req, res) => {
    const id = parseId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, id);
    if (!scope) return;
    if (!(await deactivatePatient(scope, id))) return notFound(res);
    await services.audit({ action: AuditAction.AdminPatientDeactivated, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id, details: {} });
    res.json({ id, active: false });
  });

  // The patient in the path survives; the body names the duplicate merged into it.
  router.post('/patients/:patientId/merge', async (req, res) => {
    const id = parseId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, ADMIN, principalOf(res).practiceId, id);
    if (!scope) return;
    const body = MergeBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await mergePatients(scope, services.keyring, id, body.data.duplicateId);
    if (!r.ok) {
      if (r.reason === 'not_found') return void res.status(404).json({ error: 'not_found', message: `${r.field}: no such patient` });
      return badRequest(res, r.message);
    }
    const moved = { ...r.moved };
    await services.audit({
      action: AuditAction.AdminPatientsMerged,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: id,
      details: { survivorId: id, duplicateId: body.data.duplicateId, moved },
    });
    res.json({ survivorId: id, duplicateId: body.data.duplicateId, moved });
  });

  // What the call path would say today: the next booked or confirmed appointment.
  router.get('/patients/:patientId/next-appointment', async (req, res) => {
    const id = parseId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, APPOINTMENT_READ, principalOf(res).practiceId, id);
    if (!scope) return;
    const next = await nextAppointment(scope, id, services.clock());
    res.json({ patientId: id, next: next ? { id: next.id, startsAt: next.startsAt.toISOString() } : null });
  });

  // --- Appointments -------------------------------------------------------------
  router.get('/appointments', async (req, res) => {
    const scope = await permit(services, req, res, APPOINTMENT_READ, principalOf(res).practiceId);
    if (!scope) return;
    const q = AppointmentListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    res.json({ appointments: await listAppointments(scope, q.data) });
  });

  router.post('/appointments', async (req, res) => {
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId);
    if (!scope) return;
    const body = AppointmentInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await addAppointment(scope, body.data);
    if (!r.ok) return refuseAppointment(res, r);
    await services.audit({ action: AuditAction.AdminAppointmentChanged, actor: actorOf(res), practiceId: scope.practiceId, subjectId: r.appointment.id, details: { change: 'created', status: r.appointment.status } });
    res.status(201).json(r.appointment);
  });

  router.get('/appointments/:id', async (req, res) => {
    const id = appointmentId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, APPOINTMENT_READ, principalOf(res).practiceId, id);
    if (!scope) return;
    const a = await getAppointment(scope, id);
    if (!a) return notFound(res);
    res.json(a);
  });

  router.patch('/appointments/:id', async (req, res) => {
    const id = appointmentId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, id);
    if (!scope) return;
    const body = AppointmentPatch.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await changeAppointment(scope, id, body.data);
    if (!r.ok) return refuseAppointment(res, r);
    await services.audit({ action: AuditAction.AdminAppointmentChanged, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id, details: { change: 'updated', fields: r.changed, status: r.appointment.status } });
    res.json(r.appointment);
  });

  // An appointment is never deleted: DELETE cancels it (its history stays).
  router.delete('/appointments/:id', async (req, res) => {
    const id = appointmentId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, id);
    if (!scope) return;
    const r = await cancelAppointment(scope, id);
    if (!r.ok) return refuseAppointment(res, r);
    await services.audit({ action: AuditAction.AdminAppointmentChanged, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id, details: { change: 'cancelled', status: 'cancelled' } });
    res.json(r.appointment);
  });

  return router;
}
