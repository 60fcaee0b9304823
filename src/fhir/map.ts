import type { Address, Appointment, ContactPoint, HumanName, Identifier, Patient, PatientCommunication, Reference } from '@medplum/fhirtypes';
import { EmailSchema } from '../patients/identifiers.js';

/**
 * FHIR R4 Patient and Appointment resources as our records: pure, no I/O.
 *
 * What is read, and only this: a Patient's identifier (the MRN: the one in the practice's MRN
 * system), name, birthDate, telecom (phones), address state and communication language; an
 * Appointment's id, status, start and its Patient participant. Nothing else of a resource is
 * ever looked at, so reasons, diagnoses, notes, comments, descriptions, narrative and any
 * extension cannot reach our tables however an EHR fills them (test/fhir-map.test.ts feeds
 * resources full of them and checks none of their text comes out).
 *
 * Resources arrive from another system, so the types of @medplum/fhirtypes say what a field
 * should be, never what it is: every field is checked before use.
 */

export type PhoneUse = 'mobile' | 'home' | 'work';

export interface MappedPhone {
  /** E.164. */
  e164: string;
  use: PhoneUse | null;
  /** FHIR's rank (1 = most preferred), when the EHR gave one. */
  rank: number | null;
  preferred: boolean;
}

export interface MappedPatient {
  /** The resource's id on its server (`Patient/<id>`), how Appointments name the patient. */
  resourceId: string | null;
  mrn: string;
  /** The first given name of the name used (middle names are not imported). */
  firstName: string | null;
  lastName: string | null;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
  /** Preferred first. */
  phones: MappedPhone[];
  /** Numbers the EHR holds that are not readable as E.164 (counted, never kept). */
  unreadablePhones: number;
  /** Two-letter US postal code, or null. */
  usState: string | null;
  /** The current e-mail address (telecom system `email`, preferred by rank), lower case; null when none is readable. */
  email: string | null;
  /** Primary language subtag, lower case (`en`, `es`), or null. */
  language: string | null;
  active: boolean;
}

/** Our appointment statuses a FHIR status maps to (see APPOINTMENT_STATUS). */
export type MappedAppointmentStatus = 'booked' | 'completed' | 'cancelled' | 'no_show';

export interface MappedAppointment {
  resourceId: string;
  /** How the Appointment names its patient: a reference to a Patient resource, or the MRN itself. */
  patient: { reference: string } | { mrn: string };
  startsAt: Date;
  status: MappedAppointmentStatus;
}

/** Why a resource was not imported: the FHIR element and a reason, never its value. */
export interface MapProblem {
  field: string;
  reason: string;
}

export type MapResult<T> = { kind: 'record'; record: T } | { kind: 'invalid'; problem: MapProblem } | { kind: 'skipped'; reason: string };

/**
 * FHIR Appointment.status → ours. Decided here, documented in the README:
 * - `booked`, `arrived`, `checked-in`: the appointment stands (booked); arrival is front-desk
 *   workflow we do not track. `fulfilled`: completed (it happened; never spoken again).
 * - `cancelled`, and `entered-in-error` (an appointment that never was): cancelled, so one imported
 *   earlier as booked is never spoken again.
 * - `noshow`: no_show.
 * - `proposed`, `pending`, `waitlist`: not an appointment yet (a request or a slot offered): skipped.
 */
const APPOINTMENT_STATUS: Record<Appointment['status'], MappedAppointmentStatus | null> = {
  booked: 'booked',
  arrived: 'booked',
  'checked-in': 'booked',
  fulfilled: 'completed',
  cancelled: 'cancelled',
  'entered-in-error': 'cancelled',
  noshow: 'no_show',
  proposed: null,
  pending: null,
  waitlist: null,
};

const US_STATES: ReadonlySet<string> = new Set(
  ('AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY ' +
    'AS GU MP PR VI').split(' '),
);

const FULL_DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const E164 = /^\+[1-9]\d{7,14}$/;
/** FHIR instant/dateTime with a time and a zone: what an appointment's start must be. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const MAX_TEXT = 200;

function text(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim().replace(/\s+/g, ' ');
  return t.length > 0 && t.length <= MAX_TEXT ? t : null;
}

function list<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

/** The MRN: the value of the identifier in the practice's MRN system. */
export function mrnOf(identifiers: unknown, mrnSystem: string): string | null {
  const match = list<Identifier>(identifiers).find((i) => i && typeof i === 'object' && i.system === mrnSystem && i.use !== 'old');
  return match ? text(match.value) : null;
}

/** The name to use: the official one, else the first usual one, else the first; never an old or maiden name. */
function chosenName(names: unknown): HumanName | undefined {
  const usable = list<HumanName>(names).filter((n) => n && typeof n === 'object' && n.use !== 'old' && n.use !== 'maiden');
  return usable.find((n) => n.use === 'official') ?? usable.find((n) => n.use === 'usual') ?? usable[0];
}

/**
 * A US or international number as E.164: `+` and 8–15 digits as written, or a US number of 10
 * digits (11 with the leading 1). Anything else (a local number abroad, an extension) is unreadable.
 */
export function phoneToE164(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > 40) return null;
  const compact = raw.replace(/[\s().\-/]/g, '');
  if (compact.startsWith('+')) return E164.test(compact) ? compact : null;
  if (!/^\d+$/.test(compact)) return null;
  if (compact.length === 10 && /^[2-9]/.test(compact)) return `+1${compact}`;
  if (compact.length === 11 && compact.startsWith('1') && /^1[2-9]/.test(compact)) return `+${compact}`;
  return null;
}

function phoneUse(use: unknown): PhoneUse | null {
  return use === 'mobile' || use === 'home' || use === 'work' ? use : null;
}

/** Whether a contact point's period has ended by `now` (an ended number is not the patient's any more). */
function ended(point: ContactPoint, now: Date): boolean {
  const end = point.period?.end;
  if (typeof end !== 'string') return false;
  const at = Date.parse(end.length === 4 ? `${end}-12-31T23:59:59Z` : end);
  return Number.isFinite(at) && at <= now.getTime();
}

/**
 * The phones (system `phone`), current ones only (not `old`, not ended), preferred first: the
 * lowest rank; without ranks, the first mobile; else the first number.
 */
export function phonesOf(telecom: unknown, now: Date): { phones: MappedPhone[]; unreadable: number } {
  const current = list<ContactPoint>(telecom).filter((p) => p && typeof p === 'object' && p.system === 'phone' && p.use !== 'old' && !ended(p, now));
  let unreadable = 0;
  const phones: MappedPhone[] = [];
  for (const p of current) {
    const e164 = phoneToE164(p.value);
    if (!e164) {
      unreadable += 1;
      continue;
    }
    if (phones.some((q) => q.e164 === e164)) continue;
    const rank = typeof p.rank === 'number' && Number.isInteger(p.rank) && p.rank > 0 ? p.rank : null;
    phones.push({ e164, use: phoneUse(p.use), rank, preferred: false });
  }
  const ranked = phones.filter((p) => p.rank !== null).sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0));
  const preferred = ranked[0] ?? phones.find((p) => p.use === 'mobile') ?? phones[0];
  if (preferred) preferred.preferred = true;
  return { phones: preferred ? [preferred, ...phones.filter((p) => p !== preferred)] : [], unreadable };
}

/**
 * The e-mail address (system `email`), current ones only (not `old`, not ended), the lowest rank
 * first; one that is not a single valid address is skipped, never kept.
 */
export function emailOf(telecom: unknown, now: Date): string | null {
  const current = list<ContactPoint>(telecom).filter((p) => p && typeof p === 'object' && p.system === 'email' && p.use !== 'old' && !ended(p, now));
  const rankOf = (p: ContactPoint): number => (typeof p.rank === 'number' && Number.isInteger(p.rank) && p.rank > 0 ? p.rank : Number.MAX_SAFE_INTEGER);
  for (const p of [...current].sort((a, b) => rankOf(a) - rankOf(b))) {
    const parsed = EmailSchema.safeParse(p.value);
    if (parsed.success) return parsed.data;
  }
  return null;
}

/** The US state of the home address (else the first current one), as its two-letter code. */
export function usStateOf(addresses: unknown): string | null {
  const current = list<Address>(addresses).filter((a) => a && typeof a === 'object' && a.use !== 'old');
  const address = current.find((a) => a.use === 'home') ?? current[0];
  const state = text(address?.state)?.toUpperCase() ?? null;
  return state && US_STATES.has(state) ? state : null;
}

/** The preferred communication language (else the first), as its primary BCP 47 subtag. */
export function languageOf(communication: unknown): string | null {
  const all = list<PatientCommunication>(communication).filter((c) => c && typeof c === 'object');
  const chosen = all.find((c) => c.preferred === true) ?? all[0];
  const codes = list<{ code?: unknown }>(chosen?.language?.coding).map((c) => c?.code);
  const code = codes.map(text).find((c): c is string => c !== null);
  const primary = code?.split('-')[0]?.toLowerCase();
  return primary && /^[a-z]{2,3}$/.test(primary) ? primary : null;
}

export function mapPatient(resource: Patient, opts: { mrnSystem: string; now: Date }): MapResult<MappedPatient> {
  if (resource.resourceType !== 'Patient') return { kind: 'invalid', problem: { field: 'resourceType', reason: 'expected Patient' } };
  const mrn = mrnOf(resource.identifier, opts.mrnSystem);
  if (!mrn) return { kind: 'invalid', problem: { field: 'identifier', reason: 'no identifier in the MRN system' } };
  const dateOfBirth = typeof resource.birthDate === 'string' && FULL_DATE.test(resource.birthDate) ? resource.birthDate : null;
  if (!dateOfBirth) return { kind: 'invalid', problem: { field: 'birthDate', reason: 'a full date (YYYY-MM-DD) is required' } };
  const name = chosenName(resource.name);
  const given = list<unknown>(name?.given).map(text).find((g): g is string => g !== null) ?? null;
  const { phones, unreadable } = phonesOf(resource.telecom, opts.now);
  return {
    kind: 'record',
    record: {
      resourceId: text(resource.id),
      mrn,
      firstName: given,
      lastName: text(name?.family),
      dateOfBirth,
      phones,
      unreadablePhones: unreadable,
      usState: usStateOf(resource.address),
      email: emailOf(resource.telecom, opts.now),
      language: languageOf(resource.communication),
      active: resource.active !== false,
    },
  };
}

/**
 * The Appointment's patient: the participant whose actor is a Patient, by reference
 * (`Patient/<id>`, or a full URL ending so) or by an identifier in the MRN system.
 */
function patientOf(participants: unknown, mrnSystem: string): MappedAppointment['patient'] | null {
  for (const p of list<{ actor?: Reference }>(participants)) {
    const actor = p && typeof p === 'object' ? p.actor : undefined;
    if (!actor || typeof actor !== 'object') continue;
    const ref = typeof actor.reference === 'string' ? /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(actor.reference) : null;
    if (ref?.[1]) return { reference: `Patient/${ref[1]}` };
    if (actor.type === 'Patient' || actor.identifier) {
      const mrn = mrnOf(actor.identifier ? [actor.identifier] : [], mrnSystem);
      if (mrn) return { mrn };
    }
  }
  return null;
}

export function mapAppointment(resource: Appointment, opts: { mrnSystem: string }): MapResult<MappedAppointment> {
  if (resource.resourceType !== 'Appointment') return { kind: 'invalid', problem: { field: 'resourceType', reason: 'expected Appointment' } };
  const resourceId = text(resource.id);
  if (!resourceId) return { kind: 'invalid', problem: { field: 'id', reason: 'an Appointment needs its id' } };
  const status = Object.hasOwn(APPOINTMENT_STATUS, resource.status) ? APPOINTMENT_STATUS[resource.status] : undefined;
  if (status === undefined) return { kind: 'invalid', problem: { field: 'status', reason: 'not an R4 Appointment status' } };
  if (status === null) return { kind: 'skipped', reason: `status ${resource.status} is not an appointment yet` };
  const startsAt = typeof resource.start === 'string' && INSTANT.test(resource.start) ? new Date(resource.start) : null;
  if (!startsAt || Number.isNaN(startsAt.getTime())) return { kind: 'invalid', problem: { field: 'start', reason: 'an instant with a time zone is required' } };
  const patient = patientOf(resource.participant, opts.mrnSystem);
  if (!patient) return { kind: 'invalid', problem: { field: 'participant', reason: 'no Patient participant' } };
  return { kind: 'record', record: { resourceId, patient, startsAt, status } };
}
