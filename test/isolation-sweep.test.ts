import { exportJWK, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { API_ROLES, createApiKey, type ApiRole } from '../src/auth/api-keys.js';
import { createApp } from '../src/http/app.js';
import { ROUTES, type RouteDoc } from '../src/http/openapi.js';
import { startHarness, type Harness } from './support/harness.js';
import { until } from './support/until.js';
import { routerRoutes } from './support/router-routes.js';
import { callApi } from './support/api-request.js';
import { insertFailedVoicemail, insertLockout, insertTask, practiceSnapshot, seedPractice, TEMPLATE_TEXT, type PracticeFixture } from './support/two-practices.js';
import { DEFAULT_MATRIX } from '../src/outreach/matrix.js';

/**
 * The isolation sweep (issue 11): every /api route, called with each of practice A's keys
 * (admin, staff, provider, auditor), aimed at practice B: B's ids in the path, `?practiceId=B`
 * where the route reads it, B's ids in bodies that name ids. Each such call is refused (403 or
 * 404), or, where a body's id is refused row by row, answered exactly as an id that does not
 * exist; no answer carries any of B's ids or names; and B's rows, read as the owner before and
 * after, are unchanged. The same route with A's own ids answers every role as the route's
 * documented roles say (2xx, or 403), so the sweep is known to reach the code it aims at.
 *
 * The route list is ROUTES in src/http/openapi.ts and what the routers mount: a route missing
 * from the sweep table below fails the first test, so a new route cannot go unswept.
 */

let h: Harness;
/** The tables' owner: seeds what only calls and workers write, and reads snapshots past row-level security. */
let owner: Db;
let A: PracticeFixture;
let B: PracticeFixture;

/** One request of the sweep. The method is the route's. */
interface Probe {
  path: string;
  body?: unknown;
  /** Sent as text/csv instead of JSON. */
  csv?: string;
  /** Sent as application/x-ndjson (a FHIR Bulk Data file) instead of JSON. */
  ndjson?: string;
}

/** A request naming B that must be refused: 403 (the role, or another practice) or 404 (no such thing in A). */
interface Refused {
  what: string;
  probe: Probe;
  /** Other refusals this request may get, and why they leak nothing. */
  alsoAllowed?: { statuses: readonly number[]; why: string };
}

/**
 * A request whose body names one of B's ids where the route refuses unknown ids row by row or as
 * invalid input: it must be answered exactly as the same request with an id that never existed.
 */
interface AsUnknown {
  what: string;
  id: string;
  unknown: string;
  probe: (id: string) => Probe;
}

interface SweepEntry {
  /** The route with A's own ids, for `role` (called once per role; fresh rows where a call uses one up). */
  own: (role: ApiRole) => Promise<Probe> | Probe;
  /** The route aimed at B. Empty exactly when `noTarget` says why the route cannot name another practice. */
  foreign: ReadonlyArray<Refused | AsUnknown>;
  noTarget?: string;
  /** Besides a 2xx, what an allowed role's own request may answer, and why (e.g. no Twilio account in the sweep's harness). */
  ownAlso?: { statuses: readonly number[]; why: string };
  /** For routes with no practice target: B's identifiers put where the route reads input, to see that nothing of B comes back. */
  leak?: ReadonlyArray<{ what: string; probe: Probe; check?: (status: number, body: string) => void; /** A 5xx this probe may get from a cloud the sweep does not run (a FHIR server). */ upstream5xx?: readonly number[] }>;
}

/** A leak probe's answer, when the role may call the route: exactly `expected`. */
function expectJsonWhenOk(status: number, body: string, expected: unknown): void {
  if (status === 200) expect(JSON.parse(body)).toEqual(expected);
  else expect(status).toBe(403);
}

const KEY_PRACTICE_ONLY = "acts on the key's own practice only: no practice id in the path, ?practiceId= not read";

let counter = 0;
/** A number never used elsewhere in this file (555-01xx in another area code). */
const freshNumber = (): string => `+14155550${String(100 + (counter++ % 900)).padStart(3, '0')}`;

const enc = encodeURIComponent;
const q = (practiceId: string): string => `?practiceId=${practiceId}`;

/** A's admin making what a call uses up: an override, a campaign. */
async function createdByA(path: string, body: unknown, pick: (b: Record<string, unknown>) => unknown = (b) => b.id): Promise<string> {
  const res = await callApi(h, 'POST', path, A.keys.admin, body);
  const id = pick(res.body);
  if (res.status !== 201 || typeof id !== 'string') throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return id;
}
const freshOverride = (): Promise<string> =>
  createdByA(`/api/oncall/schedules/${A.scheduleId}/overrides`, { providerId: A.providerId, start: '2027-01-04T17:00:00-05:00', end: '2027-01-05T08:00:00-05:00' }, (b) => (b.override as { id?: unknown } | undefined)?.id);
const SWAP_WINDOW = { start: '2027-03-08T17:00:00-05:00', end: '2027-03-09T08:00:00-05:00' };
let freshSwaps = 0;
/**
 * A pending swap of A's, asked with `key` (A's admin's unless given), each for its own hour of A's
 * provider's week from 2027-03-09 (a swap hands only time its provider holds, and an accepted one no longer is).
 */
async function freshSwap(key: string = A.keys.admin): Promise<string> {
  const path = `/api/oncall/schedules/${A.scheduleId}/swaps`;
  const start = Date.UTC(2027, 2, 9, 14) + freshSwaps++ * 3_600_000;
  const window = { start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString() };
  const res = await callApi(h, 'POST', path, key, { fromProviderId: A.providerId, toProviderId: A.secondProviderId, ...window });
  if (res.status !== 201 || typeof res.body.id !== 'string') throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}
const PROVIDER_KEY_IS_NO_PERSON = { statuses: [403], why: "a provider key names no provider: only a provider's own signed-in session asks for, accepts or declines their swaps" } as const;
const freshCampaign = (): Promise<string> => createdByA('/api/campaigns', { name: 'A spare campaign', templateId: 'recall', templateParams: { callback_number: '(312) 555-0100' }, provider: 'twilio' });
const sequenceBody = (templateId: string): Record<string, unknown> => ({ name: 'A spare sequence', messageType: 'recall', steps: [{ channel: 'rvm', templateId, waitHours: 0, condition: 'always' }], rvmProvider: 'twilio' });
const freshSequence = (): Promise<string> => createdByA('/api/sequences', sequenceBody('recall'));
/** A patient of A's with no name (so never a name-and-birth-date duplicate): what a merge or a deactivation uses up. */
const freshPatient = (): Promise<string> => createdByA('/api/patients', { phone: freshNumber(), dateOfBirth: '1990-01-02' });
/** A start no other appointment of A's patient has: the day after the last one. */
const freshStart = (): string => new Date(Date.UTC(2027, 2, 1, 14) + counter++ * 86_400_000).toISOString();
const freshAppointment = (): Promise<string> => createdByA('/api/appointments', { patientId: A.patientId, startsAt: freshStart() });

/**
 * Two of A's patients alike in all but id, one per MRN an AsUnknown probe gives them: each
 * PATCH sets a twin to the one MRN it ever has, so A's roles patching side by side read back
 * what they wrote.
 */
const mrnTwins: Record<string, string> = {};
const UNKNOWN_MRN = 'NEVER-ON-FILE-1';
async function makeMrnTwins(): Promise<void> {
  const phone = freshNumber();
  for (const mrn of [B.secondPatientMrn, UNKNOWN_MRN]) mrnTwins[mrn] = await createdByA('/api/patients', { phone, dateOfBirth: '1991-03-04' });
}

/** An unknown value as long as `value` (its letters replaced), so that answers that count bytes compare alike. */
const sameLength = (value: string): string => value.replace(/[A-Za-z]/g, (c) => (c === c.toUpperCase() ? 'Q' : 'q'));

/**
 * CSV imports by A naming B's identifiers, and their twins naming nobody (sameLength), run to their
 * reports before the sweep: `GET /api/imports/:id` of each pair must answer alike.
 */
const IMPORT_TWIN_PROBES: ReadonlyArray<{ what: string; value: () => string; path: string; csv: (v: string) => string }> = [
  { what: "patients: B's patient's MRN", value: () => B.patientMrn, path: '/api/patients/import', csv: (mrn) => `mrn,date_of_birth,phone\n${mrn},1990-01-02,+14155550999\n` },
  {
    what: "patients: B's patient's name and date of birth under a new MRN",
    value: () => B.patientLastName,
    path: '/api/patients/import',
    csv: (lastName) => `mrn,first_name,last_name,date_of_birth,phone\nSWEEP-NEW-1,${B.patientFirstName},${lastName},${B.patientDateOfBirth},+14155550998\n`,
  },
  { what: "appointments: B's patient's MRN", value: () => B.patientMrn, path: '/api/appointments/import?dryRun=false', csv: (mrn) => `mrn,starts_at\n${mrn},2027-01-12T15:00:00Z\n` },
  { what: "appointments: B's provider by id", value: () => B.providerId, path: '/api/appointments/import?dryRun=false', csv: (id) => `mrn,starts_at,provider\n${A.patientMrn},2027-01-12T15:00:00Z,${id}\n` },
  { what: "appointments: B's provider by name", value: () => B.providerName, path: '/api/appointments/import?dryRun=false', csv: (name) => `mrn,starts_at,provider\n${A.patientMrn},2027-01-12T15:00:00Z,${name}\n` },
];
/** Each probe's imports (B's value's and its twin's), by `what|value`. */
const importTwins: Record<string, string> = {};
async function makeImportTwins(): Promise<void> {
  for (const t of IMPORT_TWIN_PROBES) {
    for (const value of [t.value(), sameLength(t.value())]) {
      const res = await fetch(h.baseUrl + t.path, { method: 'POST', headers: { authorization: `Bearer ${A.keys.admin}`, 'content-type': 'text/csv' }, body: t.csv(value) });
      const id = ((await res.json()) as { id?: unknown }).id;
      if (res.status !== 202 || typeof id !== 'string') throw new Error(`POST ${t.path}: ${res.status}`);
      await until(`import ${id}`, async () => ['done', 'failed'].includes(String((await callApi(h, 'GET', `/api/imports/${id}`, A.keys.admin)).body.status)), 60_000);
      importTwins[`${t.what}|${value}`] = id;
    }
  }
}

const SWEEP_MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.19.5';
/** A FHIR source body for A (a fresh signing key each time; the server is never reached). */
async function sweepFhirSource(): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { baseUrl: 'https://ehr.example.org/fhir/r4', tokenUrl: 'https://ehr.example.org/oauth2/token', clientId: 'ahl-sweep', mrnSystem: SWEEP_MRN_SYSTEM, privateKey: { ...jwk, kid: 'sweep' }, algorithm: 'ES384', intervalMinutes: 60 };
}

/** A practice flow small enough to upload in the sweep. */
const SWEEP_FLOW = 'id: sweep-flow\ndescription: Sweep\nstart: bye\nnodes:\n  bye:\n    kind: hangup\n    prompt:\n      text:\n        en: "Goodbye."\n';
/** A's flow `sweep-flow` version 1, uploaded once. */
async function ensureSweepFlow(): Promise<void> {
  const res = await callApi(h, 'GET', `/api/practices/${A.id}/flows/sweep-flow/versions/1`, A.keys.admin);
  if (res.status === 200) return;
  await createdByA(`/api/practices/${A.id}/flows`, { format: 'yaml', source: SWEEP_FLOW }, (b) => b.flowId);
}

/** A fresh person of A's (an account with a membership in A only): what a disable uses up. */
async function spareUserOfA(): Promise<string> {
  const user = await owner.insertInto('users').values({ email: `a-spare-${counter++}@example.org`, display_name: 'A spare', password_hash: null }).returning('id').executeTakeFirstOrThrow();
  await owner.insertInto('memberships').values({ user_id: user.id, practice_id: A.id, role: 'staff' }).execute();
  return user.id;
}

/** A fresh pending invitation of A's: what a revoke uses up. */
async function pendingInvitationOfA(): Promise<string> {
  const n = counter++;
  const r = await owner
    .insertInto('invitations')
    .values({ practice_id: A.id, token_hash: `sweep-invitation-${n}`, email: `a-invited-${n}@example.org`, role: 'staff', provider_id: null, invited_by: 'system:sweep', expires_at: new Date('2099-01-01T00:00:00Z') })
    .returning('id')
    .executeTakeFirstOrThrow();
  return r.id;
}

/** The sweep table: one entry per /api route, `method path` as ROUTES writes it. */
function sweepTable(): Record<string, SweepEntry> {
  const rotation = (members: string[]): Record<string, unknown> => ({ members, length: 'weekly', handoffTime: '08:00', handoffWeekday: 'mon', startDate: '2026-11-02' });
  const scheduleTier = (scheduleId: string): Record<string, unknown> => ({ target: { kind: 'schedule', scheduleId }, ringSeconds: 25 });
  const providerTier = (providerId: string): Record<string, unknown> => ({ target: { kind: 'provider', providerId }, ringSeconds: 25 });
  const campaignBody = (extra: Record<string, unknown>): Record<string, unknown> => ({ name: 'A sweep campaign', templateId: 'recall', templateParams: { callback_number: '(312) 555-0100' }, provider: 'twilio', ...extra });
  const window = 'from=2026-11-25T00:00:00Z&to=2026-11-27T00:00:00Z';
  /** A patient search (inactive records too) with B's identifiers: the roles that may search find nothing. */
  const searchLeak = (what: string, criteria: Record<string, string>): NonNullable<SweepEntry['leak']>[number] => ({
    what,
    probe: { path: '/api/patients/search', body: { ...criteria, includeInactive: true } },
    check: (status, body) => expectJsonWhenOk(status, body, { patients: [], limit: 25, offset: 0 }),
  });
  /** B's provider, schedule, policy, override… by id in the path: 404 in A's practice, 403 with ?practiceId=B. */
  const byId = (base: string, bId: string, suffix = ''): Refused[] => [
    { what: "B's id, A's practice", probe: { path: `${base}/${bId}${suffix}` } },
    { what: "B's id, ?practiceId=B", probe: { path: `${base}/${bId}${suffix}${q(B.id)}` } },
  ];

  return {
    // --- keys, practices, flows -------------------------------------------------------------
    'get /api/openapi.json': { own: () => ({ path: '/api/openapi.json' }), foreign: [], noTarget: 'the public document of the routes: no practice data' },
    'get /api/whoami': { own: () => ({ path: '/api/whoami' }), foreign: [], noTarget: 'answers about the calling key itself' },
    'get /api/flows': { own: () => ({ path: '/api/flows' }), foreign: [], noTarget: 'the call flows are files shared by every practice, not practice data' },
    'get /api/practices/:practiceId': { own: () => ({ path: `/api/practices/${A.id}` }), foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}` } }] },
    'patch /api/practices/:practiceId': {
      own: () => ({ path: `/api/practices/${A.id}`, body: { greetingName: 'Alder greeting' } }),
      foreign: [
        { what: "B's practice", probe: { path: `/api/practices/${B.id}`, body: { greetingName: 'Taken over' } } },
        { what: "B's practice, B's number as access line", probe: { path: `/api/practices/${B.id}`, body: { accessNumber: B.mainNumber } } },
        { what: "B's number as A's access line", id: B.mainNumber, unknown: freshNumber(), probe: (e164) => ({ path: `/api/practices/${A.id}`, body: { accessNumber: e164 } }) },
      ],
    },
    'get /api/practices/:practiceId/communication-matrix': {
      own: () => ({ path: `/api/practices/${A.id}/communication-matrix` }),
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/communication-matrix` } }],
    },
    'put /api/practices/:practiceId/communication-matrix': {
      own: () => ({ path: `/api/practices/${A.id}/communication-matrix`, body: DEFAULT_MATRIX }),
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/communication-matrix`, body: DEFAULT_MATRIX } }],
    },
    'put /api/practices/:practiceId/numbers/:e164': {
      own: () => ({ path: `/api/practices/${A.id}/numbers/${enc(A.mainNumber)}`, body: { flowId: 'after-hours' } }),
      foreign: [
        { what: "B's practice", probe: { path: `/api/practices/${B.id}/numbers/${enc(freshNumber())}`, body: { flowId: 'after-hours' } } },
        { what: "B's practice, B's number", probe: { path: `/api/practices/${B.id}/numbers/${enc(B.mainNumber)}`, body: { flowId: 'drop-callback' } } },
        {
          what: "B's number into A",
          probe: { path: `/api/practices/${A.id}/numbers/${enc(B.callbackNumber)}`, body: { flowId: 'after-hours' } },
          alsoAllowed: { statuses: [409], why: 'a number belongs to one practice: the answer says it is taken, never by whom' },
        },
      ],
    },
    'delete /api/practices/:practiceId/numbers/:e164': {
      own: async () => {
        const e164 = freshNumber();
        await owner.insertInto('practice_numbers').values({ e164, practice_id: A.id }).execute();
        return { path: `/api/practices/${A.id}/numbers/${enc(e164)}` };
      },
      foreign: [
        { what: "B's practice and number", probe: { path: `/api/practices/${B.id}/numbers/${enc(B.callbackNumber)}` } },
        { what: "B's number through A", probe: { path: `/api/practices/${A.id}/numbers/${enc(B.callbackNumber)}` } },
      ],
    },

    // --- the platform operator's routes (practice keys of every role are refused) ---------------
    'get /api/practices': { own: () => ({ path: '/api/practices' }), foreign: [], noTarget: 'lists every practice, for the operator only: every practice key is refused' },
    'post /api/practices': {
      own: () => ({ path: '/api/practices', body: { name: 'Sweep Clinic', slug: `sweep-${counter++}`, timeZone: 'America/New_York' } }),
      foreign: [],
      noTarget: 'creates a practice, for the operator only: every practice key is refused',
    },
    'post /api/practices/:practiceId/suspend': { own: () => ({ path: `/api/practices/${A.id}/suspend` }), foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/suspend` } }] },
    'post /api/practices/:practiceId/reactivate': { own: () => ({ path: `/api/practices/${A.id}/reactivate` }), foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/reactivate` } }] },
    'post /api/practices/:practiceId/lines/:e164/connect': {
      own: () => ({ path: `/api/practices/${A.id}/lines/${enc(A.mainNumber)}/connect`, body: { kind: 'main', flowId: 'after-hours' } }),
      ownAlso: { statuses: [502, 503], why: 'the sweep has no Twilio account: the admin passes the checks and Twilio cannot be reached' },
      foreign: [
        { what: "B's practice and line", probe: { path: `/api/practices/${B.id}/lines/${enc(B.mainNumber)}/connect`, body: { kind: 'main', flowId: 'after-hours' } } },
        {
          what: "B's line through A",
          probe: { path: `/api/practices/${A.id}/lines/${enc(B.mainNumber)}/connect`, body: { kind: 'main', flowId: 'after-hours' } },
          alsoAllowed: { statuses: [409, 502, 503], why: 'a number belongs to one practice: taken (never by whom), or refused before Twilio is reached' },
        },
      ],
    },
    // --- a practice's own flows and contacts -----------------------------------------------------
    'get /api/flows/:flowId/source': { own: () => ({ path: '/api/flows/after-hours/source' }), foreign: [], noTarget: 'the built-in flows are files shared by every practice, not practice data' },
    'get /api/practices/:practiceId/flows': { own: () => ({ path: `/api/practices/${A.id}/flows` }), foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/flows` } }] },
    'post /api/practices/:practiceId/flows': {
      own: () => ({ path: `/api/practices/${A.id}/flows`, body: { format: 'yaml', source: SWEEP_FLOW } }),
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/flows`, body: { format: 'yaml', source: SWEEP_FLOW } } }],
    },
    'get /api/practices/:practiceId/flows/:flowId/versions/:version': {
      own: async () => {
        await ensureSweepFlow();
        return { path: `/api/practices/${A.id}/flows/sweep-flow/versions/1` };
      },
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/flows/sweep-flow/versions/1` } }],
    },
    'put /api/practices/:practiceId/lines/:e164/flow': {
      own: () => ({ path: `/api/practices/${A.id}/lines/${enc(A.mainNumber)}/flow`, body: { flowId: 'after-hours' } }),
      foreign: [
        { what: "B's practice and line", probe: { path: `/api/practices/${B.id}/lines/${enc(B.mainNumber)}/flow`, body: { flowId: 'after-hours' } } },
        { what: "B's line through A", probe: { path: `/api/practices/${A.id}/lines/${enc(B.mainNumber)}/flow`, body: { flowId: 'after-hours' } } },
      ],
    },
    'post /api/practices/:practiceId/lines/:e164/flow/rollback': {
      own: async () => {
        // Two activations, so there is one to roll back to.
        for (let i = 0; i < 2; i += 1) await callApi(h, 'PUT', `/api/practices/${A.id}/lines/${enc(A.mainNumber)}/flow`, A.keys.admin, { flowId: 'after-hours' });
        return { path: `/api/practices/${A.id}/lines/${enc(A.mainNumber)}/flow/rollback` };
      },
      foreign: [
        { what: "B's practice and line", probe: { path: `/api/practices/${B.id}/lines/${enc(B.mainNumber)}/flow/rollback` } },
        {
          what: "B's line through A",
          probe: { path: `/api/practices/${A.id}/lines/${enc(B.mainNumber)}/flow/rollback` },
          alsoAllowed: { statuses: [409], why: "A's practice has no activation of that number: nothing to roll back, and nothing of B is read" },
        },
      ],
    },
    'get /api/practices/:practiceId/contacts': { own: () => ({ path: `/api/practices/${A.id}/contacts` }), foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/contacts` } }] },
    'put /api/practices/:practiceId/contacts/:key': {
      own: () => ({ path: `/api/practices/${A.id}/contacts/nurse_line`, body: { label: 'Nurse line', number: freshNumber() } }),
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/contacts/nurse_line`, body: { label: 'Taken over', number: freshNumber() } } }],
    },
    'delete /api/practices/:practiceId/contacts/:key': {
      own: async () => {
        await callApi(h, 'PUT', `/api/practices/${A.id}/contacts/spare`, A.keys.admin, { label: 'Spare', number: freshNumber() });
        return { path: `/api/practices/${A.id}/contacts/spare` };
      },
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/contacts/nurse_line` } }],
    },

    // --- import from an EHR (FHIR R4): the key's own practice only ---------------------------------
    'post /api/fhir/import': {
      own: () => ({ path: `/api/fhir/import?resource=Patient&dryRun=true&mrnSystem=${enc(SWEEP_MRN_SYSTEM)}`, ndjson: `${JSON.stringify({ resourceType: 'Patient', id: `sweep-${counter++}`, identifier: [{ system: SWEEP_MRN_SYSTEM, value: `SWEEP-FHIR-${counter}` }], birthDate: '1990-01-02' })}\n` }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/fhir/import?resource=Patient&practiceId=${B.id}`, ndjson: '{"resourceType":"Patient","id":"x"}\n' } },
        {
          what: "B's patient's MRN in an Appointment (dry run)",
          probe: { path: `/api/fhir/import?resource=Appointment&dryRun=true&mrnSystem=${enc(SWEEP_MRN_SYSTEM)}`, ndjson: `${JSON.stringify({ resourceType: 'Appointment', id: 'sweep-appt', status: 'booked', start: '2027-01-12T15:00:00Z', participant: [{ actor: { identifier: { system: SWEEP_MRN_SYSTEM, value: B.patientMrn } }, status: 'accepted' }] })}\n` },
        },
      ],
    },
    'put /api/fhir/source': {
      own: async () => ({ path: '/api/fhir/source', body: await sweepFhirSource() }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [{ what: '?practiceId=B', probe: { path: `/api/fhir/source${q(B.id)}`, body: { clientId: 'x' } } }],
    },
    'get /api/fhir/source': {
      own: () => ({ path: '/api/fhir/source' }),
      ownAlso: { statuses: [404], why: "A's source may not be set yet when this route is swept (routes run in any order)" },
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [{ what: '?practiceId=B', probe: { path: `/api/fhir/source${q(B.id)}` } }],
    },
    'get /api/fhir/runs': {
      own: () => ({ path: '/api/fhir/runs' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [{ what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/fhir/runs${q(B.id)}` } }],
    },
    'post /api/fhir/sync': {
      own: () => ({ path: '/api/fhir/sync' }),
      ownAlso: { statuses: [404, 409, 502], why: 'no FHIR server runs in the sweep: no source yet (404), or the sync fails at the unreachable server (502)' },
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        {
          what: '?practiceId=B (not read: A syncs its own source, if any)',
          probe: { path: `/api/fhir/sync${q(B.id)}` },
          // The sweep runs no FHIR server: A's own sync fails at it (502) or A has no source yet (404).
          upstream5xx: [502],
          check: (status) => expect([403, 404, 409, 502]).toContain(status),
        },
      ],
    },

    // --- on call: providers ---------------------------------------------------------------------
    'get /api/oncall/providers': { own: () => ({ path: '/api/oncall/providers' }), foreign: [{ what: '?practiceId=B', probe: { path: `/api/oncall/providers${q(B.id)}` } }] },
    'post /api/oncall/providers': {
      own: () => ({ path: '/api/oncall/providers', body: { displayName: 'Dr. Alder Extra', phone: freshNumber() } }),
      foreign: [{ what: '?practiceId=B', probe: { path: `/api/oncall/providers${q(B.id)}`, body: { displayName: 'Dr. Intruder', phone: freshNumber() } } }],
    },
    'get /api/oncall/providers/:id': { own: () => ({ path: `/api/oncall/providers/${A.providerId}` }), foreign: byId('/api/oncall/providers', B.providerId) },
    'patch /api/oncall/providers/:id': {
      own: () => ({ path: `/api/oncall/providers/${A.providerId}`, body: { displayName: A.providerName } }),
      foreign: [
        ...byId('/api/oncall/providers', B.providerId).map((r) => ({ ...r, probe: { ...r.probe, body: { active: false, pin: null } } })),
        { what: "A's provider, ?practiceId=B", probe: { path: `/api/oncall/providers/${A.providerId}${q(B.id)}`, body: { active: false } } },
      ],
    },
    'get /api/oncall/providers/:id/shifts.ics': { own: () => ({ path: `/api/oncall/providers/${A.providerId}/shifts.ics` }), foreign: byId('/api/oncall/providers', B.providerId, '/shifts.ics') },
    'post /api/oncall/providers/:id/feed-token': { own: () => ({ path: `/api/oncall/providers/${A.providerId}/feed-token` }), foreign: byId('/api/oncall/providers', B.providerId, '/feed-token') },
    'delete /api/oncall/providers/:id/feed-token': { own: () => ({ path: `/api/oncall/providers/${A.providerId}/feed-token` }), foreign: byId('/api/oncall/providers', B.providerId, '/feed-token') },

    // --- on call: schedules and overrides --------------------------------------------------------
    'get /api/oncall/schedules': { own: () => ({ path: '/api/oncall/schedules' }), foreign: [{ what: '?practiceId=B', probe: { path: `/api/oncall/schedules${q(B.id)}` } }] },
    'post /api/oncall/schedules': {
      own: () => ({ path: '/api/oncall/schedules', body: { name: 'Alder weekends', rotation: rotation([A.providerId]) } }),
      foreign: [
        { what: '?practiceId=B', probe: { path: `/api/oncall/schedules${q(B.id)}`, body: { name: 'Intruder', rotation: rotation([B.providerId]) } } },
        { what: "B's provider in A's rotation", id: B.providerId, unknown: randomUUID(), probe: (id) => ({ path: '/api/oncall/schedules', body: { name: 'Mixed', rotation: rotation([A.providerId, id]) } }) },
      ],
    },
    'get /api/oncall/schedules/:id': { own: () => ({ path: `/api/oncall/schedules/${A.scheduleId}` }), foreign: byId('/api/oncall/schedules', B.scheduleId) },
    'patch /api/oncall/schedules/:id': {
      own: () => ({ path: `/api/oncall/schedules/${A.scheduleId}`, body: { name: A.scheduleName } }),
      foreign: [
        ...byId('/api/oncall/schedules', B.scheduleId).map((r) => ({ ...r, probe: { ...r.probe, body: { name: 'Renamed' } } })),
        { what: "B's provider in A's rotation", id: B.providerId, unknown: randomUUID(), probe: (id) => ({ path: `/api/oncall/schedules/${A.scheduleId}`, body: { rotation: rotation([id]) } }) },
      ],
    },
    'post /api/oncall/schedules/:id/overrides': {
      own: () => ({ path: `/api/oncall/schedules/${A.scheduleId}/overrides`, body: { providerId: A.secondProviderId, start: '2027-02-01T17:00:00-05:00', end: '2027-02-02T08:00:00-05:00' } }),
      foreign: [
        ...byId('/api/oncall/schedules', B.scheduleId, '/overrides').map((r) => ({ ...r, probe: { ...r.probe, body: { providerId: B.providerId, start: '2027-02-01T17:00:00-05:00', end: '2027-02-02T08:00:00-05:00' } } })),
        {
          what: "B's provider on A's schedule",
          id: B.providerId,
          unknown: randomUUID(),
          probe: (id) => ({ path: `/api/oncall/schedules/${A.scheduleId}/overrides`, body: { providerId: id, start: '2027-02-01T17:00:00-05:00', end: '2027-02-02T08:00:00-05:00' } }),
        },
      ],
    },
    'delete /api/oncall/schedules/:id/overrides/:overrideId': {
      own: async () => ({ path: `/api/oncall/schedules/${A.scheduleId}/overrides/${await freshOverride()}` }),
      foreign: [
        ...byId('/api/oncall/schedules', B.scheduleId, `/overrides/${B.overrideId}`),
        { what: "B's override under A's schedule", probe: { path: `/api/oncall/schedules/${A.scheduleId}/overrides/${B.overrideId}` } },
      ],
    },

    // --- on call: swap requests --------------------------------------------------------------------
    'get /api/oncall/schedules/:id/swaps': { own: () => ({ path: `/api/oncall/schedules/${A.scheduleId}/swaps` }), foreign: byId('/api/oncall/schedules', B.scheduleId, '/swaps') },
    'post /api/oncall/schedules/:id/swaps': {
      own: () => ({ path: `/api/oncall/schedules/${A.scheduleId}/swaps`, body: { fromProviderId: A.providerId, toProviderId: A.secondProviderId, ...SWAP_WINDOW } }),
      ownAlso: PROVIDER_KEY_IS_NO_PERSON,
      foreign: [
        ...byId('/api/oncall/schedules', B.scheduleId, '/swaps').map((r) => ({ ...r, probe: { ...r.probe, body: { fromProviderId: B.providerId, toProviderId: B.secondProviderId, ...SWAP_WINDOW } } })),
        { what: "B's provider asked on A's schedule", id: B.secondProviderId, unknown: randomUUID(), probe: (id) => ({ path: `/api/oncall/schedules/${A.scheduleId}/swaps`, body: { fromProviderId: A.providerId, toProviderId: id, ...SWAP_WINDOW } }) },
      ],
    },
    'post /api/oncall/swaps/:id/accept': { own: async () => ({ path: `/api/oncall/swaps/${await freshSwap()}/accept` }), ownAlso: PROVIDER_KEY_IS_NO_PERSON, foreign: byId('/api/oncall/swaps', B.swapId, '/accept') },
    'post /api/oncall/swaps/:id/decline': { own: async () => ({ path: `/api/oncall/swaps/${await freshSwap()}/decline` }), ownAlso: PROVIDER_KEY_IS_NO_PERSON, foreign: byId('/api/oncall/swaps', B.swapId, '/decline') },
    'post /api/oncall/swaps/:id/cancel': {
      // Whoever asked cancels: admin and staff their own; a provider key asks for nothing, so it cancels an admin's (403).
      own: async (role) => ({ path: `/api/oncall/swaps/${await freshSwap(role === 'staff' ? A.keys.staff : A.keys.admin)}/cancel` }),
      ownAlso: PROVIDER_KEY_IS_NO_PERSON,
      foreign: byId('/api/oncall/swaps', B.swapId, '/cancel'),
    },

    // --- on call: policies, now, shifts ------------------------------------------------------------
    'get /api/oncall/policies': { own: () => ({ path: '/api/oncall/policies' }), foreign: [{ what: '?practiceId=B', probe: { path: `/api/oncall/policies${q(B.id)}` } }] },
    'post /api/oncall/policies': {
      own: () => ({ path: '/api/oncall/policies', body: { name: 'Alder days', tiers: [scheduleTier(A.scheduleId)] } }),
      foreign: [
        { what: '?practiceId=B', probe: { path: `/api/oncall/policies${q(B.id)}`, body: { name: 'Intruder', tiers: [scheduleTier(B.scheduleId)], isDefault: true } } },
        { what: "B's schedule as a tier", id: B.scheduleId, unknown: randomUUID(), probe: (id) => ({ path: '/api/oncall/policies', body: { name: 'Mixed', tiers: [scheduleTier(id)] } }) },
        { what: "B's provider as a tier", id: B.providerId, unknown: randomUUID(), probe: (id) => ({ path: '/api/oncall/policies', body: { name: 'Mixed', tiers: [providerTier(id)] } }) },
      ],
    },
    'get /api/oncall/policies/:id': { own: () => ({ path: `/api/oncall/policies/${A.policyId}` }), foreign: byId('/api/oncall/policies', B.policyId) },
    'patch /api/oncall/policies/:id': {
      own: () => ({ path: `/api/oncall/policies/${A.policyId}`, body: { pageIntervalMinutes: 10 } }),
      foreign: [
        ...byId('/api/oncall/policies', B.policyId).map((r) => ({ ...r, probe: { ...r.probe, body: { isDefault: false } } })),
        { what: "B's schedule as A's tier", id: B.scheduleId, unknown: randomUUID(), probe: (id) => ({ path: `/api/oncall/policies/${A.policyId}`, body: { tiers: [scheduleTier(id)] } }) },
      ],
    },
    'get /api/oncall/now': {
      own: () => ({ path: '/api/oncall/now' }),
      foreign: [
        { what: '?practiceId=B', probe: { path: `/api/oncall/now${q(B.id)}` } },
        { what: "B's schedule", probe: { path: `/api/oncall/now?scheduleId=${B.scheduleId}` } },
        { what: "?practiceId=B and B's schedule", probe: { path: `/api/oncall/now${q(B.id)}&scheduleId=${B.scheduleId}` } },
      ],
    },
    'get /api/oncall/shifts': {
      own: () => ({ path: `/api/oncall/shifts?${window}` }),
      foreign: [
        { what: '?practiceId=B', probe: { path: `/api/oncall/shifts${q(B.id)}&${window}` } },
        { what: "B's schedule", probe: { path: `/api/oncall/shifts?scheduleId=${B.scheduleId}&${window}` } },
      ],
    },

    // --- pages, voicemails, calls, audit ------------------------------------------------------------
    'get /api/pages': { own: () => ({ path: '/api/pages' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/pages${q(B.id)}` } }] },
    'get /api/pages/:pageId': { own: () => ({ path: `/api/pages/${A.pageId}` }), foreign: [{ what: "B's page", probe: { path: `/api/pages/${B.pageId}` } }] },
    'post /api/pages/:pageId/ack': { own: () => ({ path: `/api/pages/${A.pageId}/ack` }), foreign: [{ what: "B's page", probe: { path: `/api/pages/${B.pageId}/ack` } }] },
    'get /api/voicemails': { own: () => ({ path: '/api/voicemails' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/voicemails${q(B.id)}` } }] },
    'get /api/voicemails/dead-letter': { own: () => ({ path: '/api/voicemails/dead-letter' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/voicemails/dead-letter${q(B.id)}` } }] },
    'get /api/voicemails/:id/audio': { own: () => ({ path: `/api/voicemails/${A.voicemailId}/audio` }), foreign: [{ what: "B's voicemail", probe: { path: `/api/voicemails/${B.voicemailId}/audio` } }] },
    'post /api/voicemails/:id/ack': { own: () => ({ path: `/api/voicemails/${A.voicemailId}/ack` }), foreign: [{ what: "B's voicemail", probe: { path: `/api/voicemails/${B.voicemailId}/ack` } }] },
    'post /api/voicemails/:id/retry': {
      own: async () => ({ path: `/api/voicemails/${await insertFailedVoicemail(owner, A.id)}/retry` }),
      foreign: [{ what: "B's dead-lettered voicemail", probe: { path: `/api/voicemails/${B.failedVoicemailId}/retry` } }],
    },
    'post /api/voicemails/:id/playback-link': { own: () => ({ path: `/api/voicemails/${A.voicemailId}/playback-link` }), foreign: [{ what: "B's voicemail", probe: { path: `/api/voicemails/${B.voicemailId}/playback-link` } }] },
    'get /api/calls': {
      own: () => ({ path: '/api/calls' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/calls${q(B.id)}` } },
        // B's call is matched to B's patient: through A's key, the same as a patient nobody has.
        { what: "?patientId=B's patient", probe: { path: `/api/calls?patientId=${B.patientId}` }, check: (status, body) => expectJsonWhenOk(status, body, { calls: [], nextCursor: null }) },
      ],
    },
    'get /api/calls/:callSid': {
      own: () => ({ path: `/api/calls/${A.callSid}` }),
      // Not only refused: answered exactly as a call that never was (no 403 against 404 to tell a call of B's exists).
      foreign: [{ what: "B's call", id: B.callSid, unknown: `CA${'0'.repeat(32)}`, probe: (sid) => ({ path: `/api/calls/${sid}` }) }],
    },
    'get /api/calls/:callSid/export': {
      own: () => ({ path: `/api/calls/${A.callSid}/export` }),
      // As the call itself: B's call exports exactly as a call that never was.
      foreign: [{ what: "B's call", id: B.callSid, unknown: `CA${'0'.repeat(32)}`, probe: (sid) => ({ path: `/api/calls/${sid}/export` }) }],
    },
    'get /api/tasks': {
      own: () => ({ path: '/api/tasks' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/tasks${q(B.id)}` } },
        { what: "B's task listed through A's key: nothing", probe: { path: '/api/tasks?status=open&limit=200' }, check: (status, body) => expect(status !== 200 || !body.includes(B.taskId)).toBe(true) },
      ],
    },
    'get /api/reports/overnight': {
      own: () => ({ path: '/api/reports/overnight' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/reports/overnight${q(B.id)}` } },
        { what: "B's practice or task named in A's report: never", probe: { path: '/api/reports/overnight' }, check: (status, body) => expect(status !== 200 || (!body.includes(B.id) && !body.includes(B.taskId))).toBe(true) },
      ],
    },
    'get /api/tasks/:id': { own: () => ({ path: `/api/tasks/${A.taskId}` }), foreign: [{ what: "B's task", probe: { path: `/api/tasks/${B.taskId}` } }] },
    'post /api/tasks/:id/claim': { own: async () => ({ path: `/api/tasks/${await insertTask(owner, A.id)}/claim` }), foreign: [{ what: "B's task", probe: { path: `/api/tasks/${B.taskId}/claim` } }] },
    'post /api/tasks/:id/attempts': {
      own: async () => ({ path: `/api/tasks/${await insertTask(owner, A.id)}/attempts`, body: { outcome: 'no_answer' } }),
      foreign: [{ what: "B's task", probe: { path: `/api/tasks/${B.taskId}/attempts`, body: { outcome: 'no_answer' } } }],
    },
    'post /api/tasks/:id/close': {
      own: async () => ({ path: `/api/tasks/${await insertTask(owner, A.id)}/close`, body: { outcome: 'done' } }),
      foreign: [{ what: "B's task", probe: { path: `/api/tasks/${B.taskId}/close`, body: { outcome: 'cancelled' } } }],
    },
    'post /api/tasks/:id/assign': {
      own: async () => ({ path: `/api/tasks/${await insertTask(owner, A.id)}/assign`, body: { assignee: null } }),
      foreign: [{ what: "B's task", probe: { path: `/api/tasks/${B.taskId}/assign`, body: { assignee: null } } }],
      leak: [{ what: "A's task given to B's person", probe: { path: `/api/tasks/${A.taskId}/assign`, body: { assignee: `user:${B.userId}` } }, check: (status) => expect([400, 403]).toContain(status) }],
    },
    'post /api/tasks/:id/call': {
      own: async () => ({ path: `/api/tasks/${await insertTask(owner, A.id)}/call`, body: { to: 'me' } }),
      ownAlso: { statuses: [409], why: 'a key has no phone to ring (no_phone), or the task has no number' },
      foreign: [{ what: "B's task", probe: { path: `/api/tasks/${B.taskId}/call`, body: { to: 'me' } } }],
    },
    'get /api/audit': {
      // A's own log also records A's refused attempts on B's ids (subject and target practice):
      // the own call reads one call's events, which name nothing of B.
      own: () => ({ path: `/api/audit?callSid=${A.callSid}&limit=50` }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [{ what: "?practiceId=B and B's call", probe: { path: `/api/audit${q(B.id)}&callSid=${B.callSid}` } }],
    },
    'get /api/audit/export': {
      // As GET /api/audit: one call's events of A's own log (which also records A's refused attempts on B's ids).
      own: () => ({ path: `/api/audit/export?callSid=${A.callSid}` }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: "?practiceId=B and B's call (CSV)", probe: { path: `/api/audit/export${q(B.id)}&callSid=${B.callSid}` } },
        { what: "?practiceId=B and B's call (NDJSON)", probe: { path: `/api/audit/export${q(B.id)}&callSid=${B.callSid}&format=ndjson` } },
      ],
    },
    'get /api/audit/verify': {
      own: () => ({ path: '/api/audit/verify' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/audit/verify${q(B.id)}` } },
        { what: "A's chain only: B's id never named", probe: { path: '/api/audit/verify' }, check: (status, body) => expect(status !== 200 || !body.includes(B.id)).toBe(true) },
      ],
    },

    // --- patients, consent, opt-outs, BAAs ---------------------------------------------------------
    'post /api/patients': {
      own: () => ({ path: '/api/patients', body: { phone: freshNumber(), dateOfBirth: '1990-01-02' } }),
      foreign: [],
      noTarget: "creates in the key's own practice; the body names no practice or id",
    },
    'post /api/patients/lookup': {
      own: () => ({ path: '/api/patients/lookup', body: { phone: A.patientPhone } }),
      foreign: [],
      noTarget: "looks up the key's own practice only",
      leak: [{ what: "B's patient's number", probe: { path: '/api/patients/lookup', body: { phone: B.patientPhone } }, check: (status, body) => expectJsonWhenOk(status, body, { patientIds: [] }) }],
    },
    // --- patient records and appointments ---------------------------------------------------------
    'get /api/patients': {
      own: () => ({ path: '/api/patients' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/patients${q(B.id)}` } },
        { what: 'every patient, inactive ones too', probe: { path: '/api/patients?includeInactive=true&limit=100' } },
      ],
    },
    'get /api/patients/recall-due': {
      // Both practices' patients are due in June 2030 (two-practices.ts): A's window finds A's only.
      own: () => ({ path: '/api/patients/recall-due?from=2030-06-01&to=2030-06-30' }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [
        { what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/patients/recall-due?from=2030-06-01&to=2030-06-30&practiceId=${B.id}` } },
        { what: "the window of B's patient's recall date, every day there is", probe: { path: '/api/patients/recall-due?from=2000-01-01&to=2199-12-31&limit=5000' } },
      ],
    },
    'post /api/patients/search': {
      own: () => ({ path: '/api/patients/search', body: { mrn: A.patientMrn } }),
      foreign: [],
      noTarget: "searches the key's own practice only; the body names a patient's identifiers, not a practice",
      leak: [
        searchLeak("B's patient's MRN", { mrn: B.patientMrn }),
        searchLeak("B's patient's family name", { name: B.patientLastName }),
        searchLeak("B's patient's full name", { name: `${B.patientFirstName} ${B.patientLastName}` }),
        searchLeak("B's patient's date of birth", { dateOfBirth: B.patientDateOfBirth }),
        searchLeak("B's patient's number", { phone: B.patientPhone }),
        searchLeak("B's patient's every identifier", { name: B.patientLastName, dateOfBirth: B.patientDateOfBirth, phone: B.patientPhone, mrn: B.patientMrn }),
      ],
    },
    'post /api/patients/import': {
      own: () => ({ path: '/api/patients/import?dryRun=false', csv: `mrn,date_of_birth,phone\nSWEEP-IMPORT-${counter++},1990-01-02,${freshNumber()}\n` }),
      foreign: [
        // Queued whatever the file says (202, the import's id); what the import then makes of B's
        // identifiers is swept at GET /api/imports/:id below (importTwins).
        { what: "B's patient's MRN", id: B.patientMrn, unknown: sameLength(B.patientMrn), probe: (mrn) => ({ path: '/api/patients/import', csv: `mrn,date_of_birth,phone\n${mrn},1990-01-02,+14155550999\n` }) },
      ],
    },
    'get /api/patients/:patientId': { own: () => ({ path: `/api/patients/${A.patientId}` }), foreign: [{ what: "B's patient", probe: { path: `/api/patients/${B.patientId}` } }] },
    'patch /api/patients/:patientId': {
      own: () => ({ path: `/api/patients/${A.patientId}`, body: { usState: 'FL' } }),
      foreign: [
        { what: "B's patient", probe: { path: `/api/patients/${B.patientId}`, body: { usState: 'GA', pin: '1234' } } },
        { what: "B's patient, new numbers", probe: { path: `/api/patients/${B.patientId}`, body: { phone: freshNumber() } } },
        // The duplicate check looks at A's patients only: B's MRN is free in A. (The twin keeps
        // it, so the MRN is B's second patient's, which no other probe names.)
        { what: "B's second patient's MRN on A's patient", id: B.secondPatientMrn, unknown: UNKNOWN_MRN, probe: (mrn) => ({ path: `/api/patients/${mrnTwins[mrn] ?? 'missing-twin'}`, body: { mrn } }) },
      ],
    },
    'post /api/patients/:patientId/deactivate': {
      own: async () => ({ path: `/api/patients/${await freshPatient()}/deactivate` }),
      foreign: [{ what: "B's patient", probe: { path: `/api/patients/${B.patientId}/deactivate` } }],
    },
    'post /api/patients/:patientId/merge': {
      own: async () => ({ path: `/api/patients/${await freshPatient()}/merge`, body: { duplicateId: await freshPatient() } }),
      foreign: [
        { what: "A's patient into B's", probe: { path: `/api/patients/${B.patientId}/merge`, body: { duplicateId: A.patientId } } },
        { what: "B's patient into A's", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/patients/${A.patientId}/merge`, body: { duplicateId: id } }) },
      ],
    },
    'get /api/patients/:patientId/next-appointment': {
      own: () => ({ path: `/api/patients/${A.patientId}/next-appointment` }),
      foreign: [
        // The route answers any id it does not know with `next: null` (it reads appointments by
        // patient within the practice and never looks the patient up): B's patient must be one.
        { what: "B's patient (with a booked appointment)", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/patients/${id}/next-appointment` }) },
      ],
    },
    'get /api/appointments': {
      own: () => ({ path: '/api/appointments' }),
      foreign: [
        { what: '?practiceId=B', probe: { path: `/api/appointments${q(B.id)}` }, alsoAllowed: { statuses: [400], why: 'a strict query: practiceId is not a parameter, and nothing is read' } },
        { what: "B's patient", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/appointments?patientId=${id}` }) },
      ],
    },
    'post /api/appointments': {
      own: () => ({ path: '/api/appointments', body: { patientId: A.patientId, startsAt: freshStart() } }),
      foreign: [
        { what: "B's patient", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: '/api/appointments', body: { patientId: id, startsAt: '2027-01-11T15:00:00Z' } }) },
        { what: "B's provider for A's patient", id: B.providerId, unknown: randomUUID(), probe: (id) => ({ path: '/api/appointments', body: { patientId: A.patientId, startsAt: '2027-01-11T15:00:00Z', providerId: id } }) },
      ],
    },
    'post /api/appointments/import': {
      own: () => ({ path: '/api/appointments/import?dryRun=false', csv: `mrn,starts_at\n${A.patientMrn},${freshStart()}\n` }),
      foreign: [{ what: "B's provider by id", id: B.providerId, unknown: randomUUID(), probe: (id) => ({ path: '/api/appointments/import?dryRun=false', csv: `mrn,starts_at,provider\n${A.patientMrn},2027-01-12T15:00:00Z,${id}\n` }) }],
    },
    'get /api/imports': { own: () => ({ path: '/api/imports' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/imports${q(B.id)}` } }] },
    'get /api/imports/:id': {
      own: () => ({ path: `/api/imports/${A.importId}` }),
      foreign: [
        { what: "B's import", probe: { path: `/api/imports/${B.importId}` } },
        // Imports A ran (to their reports) on files naming B's patient, against files naming nobody:
        // each report must be the same (upserted by MRN within the practice; duplicates only of A's patients).
        ...IMPORT_TWIN_PROBES.map((t) => ({ what: t.what, id: t.value(), unknown: sameLength(t.value()), probe: (v: string) => ({ path: `/api/imports/${importTwins[`${t.what}|${v}`] ?? 'missing-twin'}` }) })),
      ],
    },
    'get /api/appointments/:id': { own: () => ({ path: `/api/appointments/${A.appointmentId}` }), foreign: [{ what: "B's appointment", probe: { path: `/api/appointments/${B.appointmentId}` } }] },
    'patch /api/appointments/:id': {
      own: () => ({ path: `/api/appointments/${A.appointmentId}`, body: { locationName: 'Alder main office' } }),
      foreign: [
        { what: "B's appointment", probe: { path: `/api/appointments/${B.appointmentId}`, body: { status: 'no_show', locationName: 'Taken over' } } },
        { what: "B's provider on A's appointment", id: B.providerId, unknown: randomUUID(), probe: (id) => ({ path: `/api/appointments/${A.appointmentId}`, body: { providerId: id } }) },
      ],
    },
    'delete /api/appointments/:id': {
      own: async () => ({ path: `/api/appointments/${await freshAppointment()}` }),
      foreign: [{ what: "B's appointment", probe: { path: `/api/appointments/${B.appointmentId}` } }],
    },
    'get /api/consent-disclosures': { own: () => ({ path: '/api/consent-disclosures' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/consent-disclosures${q(B.id)}` } }] },
    'post /api/consent-disclosures': {
      own: () => ({ path: '/api/consent-disclosures', body: { version: `rvm-alder-${counter++}`, channel: 'rvm', text: 'We may leave you prerecorded voicemail reminders. Reply STOP to opt out.' } }),
      foreign: [],
      noTarget: "records into the key's own practice; the body names no practice or id",
    },
    'get /api/patients/:patientId/consents': { own: () => ({ path: `/api/patients/${A.patientId}/consents` }), foreign: [{ what: "B's patient", probe: { path: `/api/patients/${B.patientId}/consents` } }] },
    'post /api/patients/:patientId/consents': {
      own: () => ({ path: `/api/patients/${A.patientId}/consents`, body: { channel: 'rvm', action: 'revoked', source: 'staff' } }),
      foreign: [
        { what: "B's patient", probe: { path: `/api/patients/${B.patientId}/consents`, body: { channel: 'rvm', action: 'revoked', source: 'staff' } } },
        {
          what: "B's disclosure version for A's patient",
          id: B.disclosureVersion,
          unknown: 'rvm-never-recorded',
          probe: (version) => ({ path: `/api/patients/${A.patientId}/consents`, body: { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: version, evidenceRef: 'scan-sweep' } }),
        },
      ],
    },
    'post /api/opt-outs': {
      own: () => ({ path: '/api/opt-outs', body: { phone: A.optOutPhone } }),
      foreign: [],
      noTarget: "records into the key's own practice; the body names a number, not a practice",
      leak: [{ what: "B's patient's number", probe: { path: '/api/opt-outs', body: { phone: B.patientPhone } } }],
    },
    'post /api/opt-outs/check': {
      own: () => ({ path: '/api/opt-outs/check', body: { phone: A.optOutPhone } }),
      foreign: [],
      noTarget: "checks the key's own practice only",
      leak: [{ what: "B's opted-out number", probe: { path: '/api/opt-outs/check', body: { phone: B.optOutPhone } }, check: (status, body) => expectJsonWhenOk(status, body, { optedOut: false }) }],
    },
    'post /api/patients/:patientId/email-notices': {
      own: () => ({ path: `/api/patients/${A.patientId}/email-notices`, body: { messageType: 'callback_request', templateId: 'call_office' } }),
      foreign: [{ what: "B's patient", probe: { path: `/api/patients/${B.patientId}/email-notices`, body: { messageType: 'callback_request', templateId: 'call_office' } } }],
    },
    'get /api/email-templates': { own: () => ({ path: '/api/email-templates' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/email-templates${q(B.id)}` } }] },
    'post /api/email-templates/check': {
      own: () => ({ path: '/api/email-templates/check', body: { body: 'Please call {practice_name} at {callback_number}.', messageType: 'recall' } }),
      foreign: [],
      noTarget: "checks against the key's own practice's matrix only; the body names no practice or id",
    },
    'post /api/email-opt-outs': {
      own: () => ({ path: '/api/email-opt-outs', body: { email: 'sweep-a@example.org' } }),
      foreign: [],
      noTarget: "records into the key's own practice; the body names an address, not a practice",
    },
    'get /api/opt-outs': { own: () => ({ path: '/api/opt-outs' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/opt-outs${q(B.id)}` } }] },
    'get /api/vendor-baas': { own: () => ({ path: '/api/vendor-baas' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/vendor-baas${q(B.id)}` } }] },
    'post /api/vendor-baas': {
      own: () => ({ path: '/api/vendor-baas', body: { vendor: 'rvm_http', signedAt: '2026-10-02', documentRef: 'contracts/alder-rvm-baa.pdf' } }),
      foreign: [],
      noTarget: "records into the key's own practice; the body names no practice or id",
    },

    // --- lockouts and API keys ------------------------------------------------------------------------
    'get /api/lockouts': { own: () => ({ path: '/api/lockouts' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B (a strict query: 400)', probe: { path: `/api/lockouts${q(B.id)}` } }] },
    'post /api/lockouts/:id/clear': {
      own: async () => ({ path: `/api/lockouts/${await insertLockout(owner, A.id)}/clear` }),
      foreign: [{ what: "B's lockout", probe: { path: `/api/lockouts/${B.lockoutId}/clear` } }],
    },
    // --- staff accounts: signing in (no key), sessions (a key has none), a practice's people ---------
    'post /api/auth/login': {
      own: () => ({ path: '/api/auth/login', body: { email: 'nobody@example.org', password: 'not anyone at all here' } }),
      ownAlso: { statuses: [401], why: 'no such account: signing in answers 401, with nothing of any practice' },
      foreign: [],
      noTarget: 'an e-mail and a password: no practice is named; the answer is the same for every account',
    },
    'post /api/auth/totp/enrol': { own: () => ({ path: '/api/auth/totp/enrol', body: {} }), ownAlso: { statuses: [401], why: 'a key has no session: the second factor needs the password stage' }, foreign: [], noTarget: "acts on the session's own person only" },
    'post /api/auth/totp/confirm': { own: () => ({ path: '/api/auth/totp/confirm', body: { code: '123456' } }), ownAlso: { statuses: [401], why: 'a key has no session' }, foreign: [], noTarget: "acts on the session's own person only" },
    'post /api/auth/totp': { own: () => ({ path: '/api/auth/totp', body: { code: '123456' } }), ownAlso: { statuses: [401], why: 'a key has no session' }, foreign: [], noTarget: "acts on the session's own person only" },
    'post /api/auth/logout': { own: () => ({ path: '/api/auth/logout', body: {} }), ownAlso: { statuses: [401], why: 'a key has no session' }, foreign: [], noTarget: "ends the request's own session" },
    'post /api/auth/logout-everywhere': { own: () => ({ path: '/api/auth/logout-everywhere', body: {} }), ownAlso: { statuses: [403], why: 'a key has no session' }, foreign: [], noTarget: "ends the session's own person's sessions" },
    'post /api/auth/invitations/inspect': {
      own: () => ({ path: '/api/auth/invitations/inspect', body: { token: 'x'.repeat(43) } }),
      ownAlso: { statuses: [404], why: 'an unknown token: nothing is found, nothing of any practice is said' },
      foreign: [],
      noTarget: 'the token is the credential and names its own practice',
    },
    'post /api/auth/invitations/accept': {
      own: () => ({ path: '/api/auth/invitations/accept', body: { token: 'x'.repeat(43), password: 'a long enough passphrase', displayName: 'Nobody' } }),
      ownAlso: { statuses: [404], why: 'an unknown token: nothing is found, nothing of any practice is said' },
      foreign: [],
      noTarget: 'the token is the credential and names its own practice',
    },
    'post /api/auth/password-reset': { own: () => ({ path: '/api/auth/password-reset', body: { email: 'nobody@example.org' } }), foreign: [], noTarget: 'an e-mail only: always 202, no practice named' },
    'post /api/auth/password-reset/complete': {
      own: () => ({ path: '/api/auth/password-reset/complete', body: { token: 'x'.repeat(43), password: 'a long enough passphrase' } }),
      ownAlso: { statuses: [404], why: 'an unknown token' },
      foreign: [],
      noTarget: 'the token is the credential and names its person',
    },
    'get /api/session': { own: () => ({ path: '/api/session' }), ownAlso: { statuses: [403], why: 'a key has no session' }, foreign: [], noTarget: "answers about the request's own session" },
    'post /api/session/practice': {
      own: () => ({ path: '/api/session/practice', body: { practiceId: A.id } }),
      ownAlso: { statuses: [403], why: 'a key has no session' },
      foreign: [{ what: "B's practice", probe: { path: '/api/session/practice', body: { practiceId: B.id } } }],
    },
    'put /api/me/phone': { own: () => ({ path: '/api/me/phone', body: { phone: '+12025550142' } }), ownAlso: { statuses: [403], why: 'a key has no account' }, foreign: [], noTarget: "sets the session's own person's phone only" },
    'get /api/users': { own: () => ({ path: '/api/users' }), foreign: [], noTarget: KEY_PRACTICE_ONLY },
    'post /api/users/invitations': {
      own: () => ({ path: '/api/users/invitations', body: { email: `sweep-${counter++}@example.org`, role: 'staff' } }),
      foreign: [],
      noTarget: KEY_PRACTICE_ONLY,
      leak: [{ what: "B's provider as the invited provider", probe: { path: '/api/users/invitations', body: { email: 'sweep-leak@example.org', role: 'provider', providerId: B.providerId } }, check: (status) => expect([400, 403]).toContain(status) }],
    },
    'get /api/users/invitations': { own: () => ({ path: '/api/users/invitations' }), foreign: [], noTarget: KEY_PRACTICE_ONLY },
    'post /api/users/invitations/:id/revoke': {
      own: async () => ({ path: `/api/users/invitations/${await pendingInvitationOfA()}/revoke` }),
      foreign: [{ what: "B's invitation through A", probe: { path: `/api/users/invitations/${B.invitationId}/revoke` } }],
    },
    'patch /api/users/:id/membership': {
      own: () => ({ path: `/api/users/${A.userId}/membership`, body: { role: 'admin' } }),
      foreign: [{ what: "B's person through A", probe: { path: `/api/users/${B.userId}/membership`, body: { role: 'staff' } } }],
    },
    'post /api/users/:id/disable': {
      own: async () => ({ path: `/api/users/${await spareUserOfA()}/disable` }),
      foreign: [{ what: "B's person through A", probe: { path: `/api/users/${B.userId}/disable` } }],
    },
    'post /api/users/:id/reset-link': {
      own: () => ({ path: `/api/users/${A.userId}/reset-link` }),
      foreign: [{ what: "B's person through A", probe: { path: `/api/users/${B.userId}/reset-link` } }],
    },
    // --- single sign-on: the browser's legs (no key), the practice's configuration ---------------
    'get /api/auth/oidc/start': {
      own: () => ({ path: '/api/auth/oidc/start?practice=no-such-practice' }),
      ownAlso: { statuses: [303], why: 'a browser navigation: a redirect, to the console when the practice has no single sign-on' },
      foreign: [],
      noTarget: 'a practice code, public by design (the sign-in page asks for it); no key, nothing of any practice is answered but a redirect',
      leak: [{ what: "B's practice code", probe: { path: `/api/auth/oidc/start?practice=${B.slug}` }, check: (status, body) => { expect(status).toBe(303); expect(body).not.toContain(B.id); } }],
    },
    'get /api/auth/oidc/callback': {
      own: () => ({ path: '/api/auth/oidc/callback?state=unknown-state&code=x' }),
      ownAlso: { statuses: [303], why: 'an unknown state: a redirect to the console, audited' },
      foreign: [],
      noTarget: 'the state is the credential and names its own practice',
    },
    'get /api/auth/pending': { own: () => ({ path: '/api/auth/pending' }), ownAlso: { statuses: [401], why: 'a key has no session' }, foreign: [], noTarget: "answers about the request's own sign-in" },
    'put /api/practices/:practiceId/sso': {
      own: () => ({ path: `/api/practices/${A.id}/sso`, body: { issuer: 'https://login.alder.example', clientId: 'ahl', clientSecret: 'a-sweep-secret', allowedDomains: ['alder.example'] } }),
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/sso`, body: { issuer: 'https://login.alder.example', clientId: 'ahl', clientSecret: 'x', allowedDomains: ['alder.example'] } } }],
    },
    'get /api/practices/:practiceId/sso': {
      own: () => ({ path: `/api/practices/${A.id}/sso` }),
      ownAlso: { statuses: [404], why: 'A has none until an admin puts one (roles run in any order)' },
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/sso` } }],
    },
    'delete /api/practices/:practiceId/sso': {
      own: () => ({ path: `/api/practices/${A.id}/sso` }),
      ownAlso: { statuses: [404], why: 'A has none (or it was removed by an earlier role)' },
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/sso` } }],
    },
    'get /api/practices/:practiceId/api-keys': { own: () => ({ path: `/api/practices/${A.id}/api-keys` }), foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/api-keys` } }] },
    'post /api/practices/:practiceId/api-keys': {
      own: () => ({ path: `/api/practices/${A.id}/api-keys`, body: { role: 'staff', label: 'A sweep' } }),
      foreign: [{ what: "B's practice", probe: { path: `/api/practices/${B.id}/api-keys`, body: { role: 'staff', label: 'A sweep' } } }],
    },
    'post /api/practices/:practiceId/api-keys/:keyId/revoke': {
      own: async () => ({ path: `/api/practices/${A.id}/api-keys/${(await createApiKey(h.services.db, { role: 'staff', practiceId: A.id, label: 'A spare' })).id}/revoke` }),
      foreign: [
        { what: "B's practice and key", probe: { path: `/api/practices/${B.id}/api-keys/${B.spareKeyId}/revoke` } },
        { what: "B's key through A", probe: { path: `/api/practices/${A.id}/api-keys/${B.spareKeyId}/revoke` } },
        { what: "B's admin key through A", probe: { path: `/api/practices/${A.id}/api-keys/${B.keyIds.admin}/revoke` } },
      ],
    },

    // --- templates and campaigns ------------------------------------------------------------------------
    'get /api/drop-templates': { own: () => ({ path: '/api/drop-templates' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/drop-templates${q(B.id)}` } }] },
    'post /api/drop-templates': {
      own: () => ({ path: '/api/drop-templates', body: { name: `Alder closure ${counter++}`, purpose: 'office_closure', text: TEMPLATE_TEXT } }),
      foreign: [],
      noTarget: "creates in the key's own practice; the body names no practice or id",
    },
    'post /api/drop-templates/check': {
      own: () => ({ path: '/api/drop-templates/check', body: { purpose: 'office_closure', text: TEMPLATE_TEXT } }),
      foreign: [],
      noTarget: 'checks the text in the body; it reads and stores nothing of any practice',
    },
    'get /api/campaigns': { own: () => ({ path: '/api/campaigns' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/campaigns${q(B.id)}` } }] },
    'post /api/campaigns': {
      own: () => ({ path: '/api/campaigns', body: campaignBody({ patientIds: [A.patientId] }) }),
      foreign: [
        { what: "B's patient as a recipient", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: '/api/campaigns', body: campaignBody({ patientIds: [id] }) }) },
        { what: "B's template", id: B.templateId, unknown: randomUUID(), probe: (id) => ({ path: '/api/campaigns', body: campaignBody({ templateId: id }) }) },
      ],
    },
    'get /api/campaigns/:campaignId': { own: () => ({ path: `/api/campaigns/${A.campaignId}` }), foreign: [{ what: "B's campaign", probe: { path: `/api/campaigns/${B.campaignId}` } }] },
    'get /api/campaigns/:campaignId/drops': { own: () => ({ path: `/api/campaigns/${A.campaignId}/drops` }), foreign: [{ what: "B's campaign", probe: { path: `/api/campaigns/${B.campaignId}/drops` } }] },
    'post /api/campaigns/:campaignId/recipients': {
      own: () => ({ path: `/api/campaigns/${A.campaignId}/recipients`, body: { patientIds: [A.patientId] } }),
      foreign: [
        { what: "B's campaign", probe: { path: `/api/campaigns/${B.campaignId}/recipients`, body: { patientIds: [B.patientId] } } },
        { what: "B's campaign (CSV)", probe: { path: `/api/campaigns/${B.campaignId}/recipients`, csv: `patient_id\n${B.patientId}\n` } },
        { what: "B's patient into A's campaign", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/campaigns/${A.campaignId}/recipients`, body: { patientIds: [id] } }) },
        { what: "B's patient into A's campaign (CSV)", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/campaigns/${A.campaignId}/recipients`, csv: `patient_id\n${id}\n` }) },
      ],
    },
    'post /api/campaigns/:campaignId/dry-run': { own: () => ({ path: `/api/campaigns/${A.campaignId}/dry-run` }), foreign: [{ what: "B's campaign", probe: { path: `/api/campaigns/${B.campaignId}/dry-run` } }] },
    'post /api/campaigns/:campaignId/:command': {
      own: async () => ({ path: `/api/campaigns/${await freshCampaign()}/cancel` }),
      foreign: [
        { what: "B's campaign, cancel", probe: { path: `/api/campaigns/${B.campaignId}/cancel` } },
        { what: "B's campaign, start", probe: { path: `/api/campaigns/${B.campaignId}/start` } },
      ],
    },

    // --- sequences ---------------------------------------------------------------------------------
    'get /api/sequences': { own: () => ({ path: '/api/sequences' }), foreign: [], noTarget: KEY_PRACTICE_ONLY, leak: [{ what: '?practiceId=B', probe: { path: `/api/sequences${q(B.id)}` } }] },
    'post /api/sequences': {
      own: () => ({ path: '/api/sequences', body: sequenceBody('recall') }),
      foreign: [{ what: "B's template in a step", id: B.templateId, unknown: randomUUID(), probe: (id) => ({ path: '/api/sequences', body: sequenceBody(id) }) }],
    },
    'get /api/sequences/:sequenceId': { own: () => ({ path: `/api/sequences/${A.sequenceId}` }), foreign: [{ what: "B's sequence", probe: { path: `/api/sequences/${B.sequenceId}` } }] },
    'get /api/sequences/:sequenceId/report': { own: () => ({ path: `/api/sequences/${A.sequenceId}/report` }), foreign: [{ what: "B's sequence", probe: { path: `/api/sequences/${B.sequenceId}/report` } }] },
    'get /api/sequences/:sequenceId/report.csv': { own: () => ({ path: `/api/sequences/${A.sequenceId}/report.csv` }), foreign: [{ what: "B's sequence", probe: { path: `/api/sequences/${B.sequenceId}/report.csv` } }] },
    'post /api/sequences/:sequenceId/audience': {
      own: () => ({ path: `/api/sequences/${A.sequenceId}/audience`, body: { patientIds: [A.patientId] } }),
      foreign: [
        { what: "B's sequence", probe: { path: `/api/sequences/${B.sequenceId}/audience`, body: { patientIds: [B.patientId] } } },
        { what: "B's sequence (CSV)", probe: { path: `/api/sequences/${B.sequenceId}/audience`, csv: `patient_id\n${B.patientId}\n` } },
        { what: "B's patient into A's sequence", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/sequences/${A.sequenceId}/audience`, body: { patientIds: [id] } }) },
        { what: "B's patient and appointment into A's sequence (CSV)", id: B.patientId, unknown: randomUUID(), probe: (id) => ({ path: `/api/sequences/${A.sequenceId}/audience`, csv: `patient_id\n${id}\n` }) },
        { what: "B's appointment into A's sequence (CSV)", id: B.appointmentId, unknown: randomUUID(), probe: (id) => ({ path: `/api/sequences/${A.sequenceId}/audience`, csv: `patient_id,appointment_id\n${A.patientId},${id}\n` }) },
      ],
    },
    'post /api/sequences/:sequenceId/:command': {
      own: async () => ({ path: `/api/sequences/${await freshSequence()}/cancel` }),
      foreign: [
        { what: "B's sequence, cancel", probe: { path: `/api/sequences/${B.sequenceId}/cancel` } },
        { what: "B's sequence, start", probe: { path: `/api/sequences/${B.sequenceId}/start` } },
      ],
    },
  };
}

// ---------------------------------------------------------------------------
// Sending and checking
// ---------------------------------------------------------------------------

interface Answer {
  status: number;
  /** The body as text (audio as latin1), for the leak check. */
  text: string;
}

async function send(method: string, probe: Probe, key: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  let body: string | undefined;
  if (probe.csv !== undefined) {
    headers['content-type'] = 'text/csv';
    body = probe.csv;
  } else if (probe.ndjson !== undefined) {
    headers['content-type'] = 'application/x-ndjson';
    body = probe.ndjson;
  } else if (probe.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(probe.body);
  }
  // A redirect (single sign-on's navigations) is an answer like any other: never followed.
  const res = await fetch(h.baseUrl + probe.path, { method: method.toUpperCase(), headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
  return { status: res.status, text: Buffer.from(await res.arrayBuffer()).toString('latin1') };
}

/** Every string that names B: its ids, names, numbers and key secrets. */
function bIdentifiers(): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(B);
  return out;
}

/** B's identifiers found in an answer, except `allowed` (the id the request itself carried, where it is echoed as unknown). */
function bLeaks(text: string, allowed: string | null = null): string[] {
  return bIdentifiers().filter((s) => s !== allowed && text.includes(s));
}

const UUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const INSTANTS = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)/g;

/** An answer with the probed id marked, and the ids and instants that differ from call to call (new rows) blanked. */
function normalised(a: Answer, id: string): string {
  return `${a.status} ${a.text.split(id).join('<probed>').replace(UUIDS, '<uuid>').replace(INSTANTS, '<instant>')}`;
}

function apiKeyRoles(route: RouteDoc): readonly ApiRole[] {
  // The sweep's keys are practice keys; the operator's platform routes are swept apart (practices-onboarding).
  return route.access.kind === 'apiKey' ? route.access.roles.filter((r): r is ApiRole => r !== 'operator') : API_ROLES;
}

const isRefusal = (probe: Refused | AsUnknown): probe is Refused => !('unknown' in probe);
const routeKey = (r: { method: string; path: string }): string => `${r.method} ${r.path}`;

// ---------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------

const API_ROUTES = ROUTES.filter((r) => r.path.startsWith('/api/'));
let table: Record<string, SweepEntry>;

beforeAll(async () => {
  // One source sends the whole sweep: lift the per-source and per-key budgets.
  h = await startHarness('isolation_sweep', { RATE_LIMIT_API_PER_SOURCE: '1000000', RATE_LIMIT_API_PER_KEY: '1000000', RATE_LIMIT_SIGN_IN_PER_SOURCE: '1000000' });
  owner = createDb(h.config.database.url, h.schema, 2);
  A = await seedPractice(h, owner, 'Alder', 1);
  B = await seedPractice(h, owner, 'Bayside', 2);
  await makeMrnTwins();
  await makeImportTwins();
  table = sweepTable();
}, 180_000);
afterAll(async () => {
  await owner?.destroy();
  await h?.close();
});

describe('the sweep table', () => {
  it('covers every documented and every mounted /api route, and nothing else', () => {
    const documented = API_ROUTES.map(routeKey);
    const mounted = routerRoutes(createApp(h.services)).filter((r) => r.split(' ')[1]?.startsWith('/api/'));
    expect(mounted.length).toBeGreaterThan(50);
    const swept = Object.keys(table);
    expect(documented.filter((r) => !swept.includes(r)), 'documented routes missing from the sweep table').toEqual([]);
    expect(mounted.filter((r) => !swept.includes(r)), 'mounted routes missing from the sweep table').toEqual([]);
    expect(swept.filter((r) => !documented.includes(r)), 'sweep entries for no documented route').toEqual([]);
  });

  it('aims every route at B, or says why it cannot name another practice', () => {
    for (const [route, entry] of Object.entries(table)) {
      expect(entry.foreign.length > 0 !== (entry.noTarget !== undefined), route).toBe(true);
    }
    // The routes that can name B by id in the path, query or body are most of them.
    expect(Object.values(table).filter((e) => e.foreign.length > 0).length).toBeGreaterThan(35);
  });

  it("B's fixture is complete and distinct from A's, so the leak check and the snapshot have something to find", async () => {
    const snapshot = await practiceSnapshot(owner, h.schema, B.id);
    const owned = ['practices', 'practice_numbers', 'api_keys', 'providers', 'oncall_schedules', 'oncall_overrides', 'oncall_swaps', 'escalation_policies', 'patients', 'patient_phones', 'appointments', 'consent_disclosures', 'consents', 'opt_outs', 'drop_templates', 'vendor_baas', 'campaigns', 'drops', 'sequences', 'sequence_steps', 'sequence_recipients', 'calls', 'call_legs', 'pages', 'page_deliveries', 'voicemails', 'verification_lockouts', 'communication_matrices', 'audit_log'];
    expect(owned.filter((t) => (snapshot[t]?.length ?? 0) === 0), 'tables where B has no rows').toEqual([]);
    const ids = bIdentifiers();
    expect(ids.length).toBeGreaterThan(30);
    expect(ids.every((s) => s.length >= 8)).toBe(true);
    const a = JSON.stringify(A);
    expect(ids.filter((s) => a.includes(s))).toEqual([]);
  });
});

/**
 * One role of A's keys against one route: every probe naming B, every leak probe, then A's own
 * ids. The roles run side by side (the probes of one role do not depend on another's).
 */
async function sweepRole(key: string, route: RouteDoc, entry: SweepEntry, role: ApiRole): Promise<void> {
  const apiKey = A.keys[role];
  for (const probe of entry.foreign) {
    const label = `${key} as A's ${role}: ${probe.what}`;
    if (isRefusal(probe)) {
      const answer = await send(route.method, probe.probe, apiKey);
      expect([403, 404, ...(probe.alsoAllowed?.statuses ?? [])], `${label} (answered ${answer.status})`).toContain(answer.status);
      expect(bLeaks(answer.text), label).toEqual([]);
    } else {
      const answer = await send(route.method, probe.probe(probe.id), apiKey);
      const control = await send(route.method, probe.probe(probe.unknown), apiKey);
      expect(answer.status, label).toBeLessThan(500);
      expect(normalised(answer, probe.id), `${label}: answered unlike an id that does not exist`).toBe(normalised(control, probe.unknown));
      expect(bLeaks(answer.text, probe.id), label).toEqual([]);
    }
  }
  for (const leak of entry.leak ?? []) {
    const label = `${key} as A's ${role}: ${leak.what}`;
    const answer = await send(route.method, leak.probe, apiKey);
    if (!(leak.upstream5xx ?? []).includes(answer.status)) expect(answer.status, label).toBeLessThan(500);
    expect(bLeaks(answer.text), label).toEqual([]);
    leak.check?.(answer.status, answer.text);
  }
  const own = await send(route.method, await entry.own(role), apiKey);
  const label = `${key} as A's ${role} on A's own ids (answered ${own.status}: ${own.text.slice(0, 200)})`;
  if (apiKeyRoles(route).includes(role)) expect((own.status >= 200 && own.status < 300) || (entry.ownAlso?.statuses.includes(own.status) ?? false), label).toBe(true);
  else expect(own.status, label).toBe(403);
  expect(bLeaks(own.text), label).toEqual([]);
}

describe.each(API_ROUTES.map((r) => [routeKey(r), r] as const))('%s', (key, route) => {
  it("refuses A's every role on B's ids, leaks nothing of B, changes nothing of B, and answers A's own ids by role", async () => {
    const entry = table[key];
    if (!entry) throw new Error(`${key} is not in the sweep table`);
    const before = await practiceSnapshot(owner, h.schema, B.id);
    await Promise.all(API_ROLES.map((role) => sweepRole(key, route, entry, role)));
    expect(await practiceSnapshot(owner, h.schema, B.id), `${key} changed B's rows`).toEqual(before);
  });
});
