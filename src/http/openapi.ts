// Over 400 lines because it lists every route with its schemas and an example: one entry per route, in one place, is the point.
import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { API_ROLES, OPERATOR_ROLE, type ApiKeyRole, type ApiRole } from '../auth/api-keys.js';
import { CallSidSchema, VoiceWebhookSchema } from '../calls/twilio-params.js';
import { NODE_ID } from '../calls/flow-schema.js';
import { LANGUAGES } from '../calls/flow-types.js';
import { CONSENT_CHANNELS, ConsentInput, DisclosureInput, VendorBaaInput } from '../consent/consent.js';
import { FEED_TOKEN_PATTERN } from '../oncall/feed.js';
import { OverrideInputSchema } from '../oncall/schedule-schema.js';
import { SmsSchema } from '../texts/sms-incoming.js';
import { PolicyInputSchema, PolicyPatchSchema, ScheduleInputSchema, SchedulePatchSchema } from '../oncall/store.js';
import { E164Schema, HolidaysSchema, WeeklyHoursSchema } from '../practices/settings.js';
import { CAMPAIGN_COMMANDS } from '../drops/campaigns.js';
import { AnswerParams, ConfirmParams, StatusParams } from '../drops/drop-service.js';
import { RVM_SIGNATURE_HEADER, RvmWebhookSchema } from '../drops/providers/http-provider.js';
import { PLAYBACK_TOKEN_PATTERN } from '../voicemail/playback-store.js';
import { AUDIO_CONTENT_TYPE } from '../voicemail/stream.js';
import { FEED_PATH, NowQuery, PracticeQuery, ProviderCreateBody, ProviderPatchBody, ShiftsQuery } from './oncall-routes.js';
import { SWAP_CANCELLERS, SWAP_DECIDERS, SWAP_REQUESTERS } from './swap-routes.js';
import { SwapInputSchema, SwapListQuery } from '../oncall/swaps.js';
import { PracticeNumberBody, PracticePatchSchema } from './practice-routes.js';
import { SmsStatusParams } from '../drops/sms-status.js';
import { CampaignInputSchema, DropsQuery, PhoneBody, RecipientsBody, TemplateCheckInput, TemplateInput } from './drops-routes.js';
import { AudienceAnswerSchema, SEQUENCE_COMMANDS, SequenceCommandParams, SequenceDetailAnswer, SequenceInputSchema, SequenceListAnswer, SequenceListQuery, SequenceParams, SequenceReportAnswer } from './sequence-routes.js';
import { AudienceBody } from '../sequences/audiences.js';
import { PatientInput, PatientListQuery, PatientPatch, PatientSearch } from '../patients/records.js';
import { RecallDueQuery } from '../patients/recall.js';
import { AppointmentInput, AppointmentListQuery, AppointmentPatch, APPOINTMENT_STATUSES } from '../patients/appointments.js';
import { AppointmentIdParams, LookupBody, MergeBody, PatientIdParams } from './patient-routes.js';
import { ImportIdParams, ImportQuery, IMPORT_MAX_BYTES } from './import-routes.js';
import { IMPORT_FAILURES, ImportEntriesQuery, ImportListQuery, type ImportFailure } from '../patients/import-store.js';
import { AckBody, ListQuery as VoicemailListQuery } from './voicemail-routes.js';
import { ATTEMPT_OUTCOMES, AssignBody, AttemptBody, CallBody, CloseBody, TASK_STATUSES, TaskListQuery } from './task-routes.js';
import { REASONS } from '../calls/flow-types.js';
import { ClearLockoutResponse, LockoutIdParams, LockoutListQuery, LockoutListResponse } from './lockout-routes.js';
import { ApiKeyCreateBody, ApiKeyCreatedSchema, ApiKeyListResponseSchema, ApiKeyPathParamsSchema, ApiKeyRevokeResponseSchema } from './key-routes.js';
import { ConnectedLineSchema, ConnectLineBody, PracticeSummarySchema } from './platform-routes.js';
import { PracticeCreateSchema } from '../practices/onboarding.js';
import { ContactBody, FlowUploadBody, LineFlowBody } from './flow-routes.js';
import { SYNC_PAGE_BUDGET, SYNC_PAGE_SIZE } from '../fhir/sync.js';
import { FhirImportQuery, FhirRunsQuery, FhirSourceBody, MAX_NDJSON_BYTES } from './fhir-routes.js';
import { CALL_OUTCOMES, CallListQuery } from './call-routes.js';
import { OvernightQuery } from './report-routes.js';
import { AuditExportQuery, AuditQuery, AuditVerifyQuery } from './audit-routes.js';
import { CHANNELS, DEFAULT_MATRIX, MESSAGE_TYPES, MatrixSchema } from '../outreach/matrix.js';
import { EMAIL_MESSAGE_TYPES, EMAIL_PLACEHOLDERS } from '../outreach/email-templates.js';
import { EmailNoticeBody, EmailNoticeParams, EmailOptOutBody, EmailTemplateCheckBody, UnsubscribeParams } from './email-routes.js';
import { UNSUBSCRIBE_TOKEN_DAYS } from '../outreach/unsubscribe-token.js';
import { AcceptInvitationBody, InspectInvitationBody, LoginBody, PasswordResetBody, PasswordResetCompleteBody, SecondFactorBody, TotpConfirmBody } from './auth-routes.js';
import { InvitationBody, InvitationIdParams, MemberSchema, MembershipPatchBody, MyPhoneBody, PendingInvitationSchema, SwitchPracticeBody, UserIdParams } from './user-routes.js';
import { OidcCallbackQuery, OidcStartQuery, SsoBody, SsoParams, SsoView } from './oidc-routes.js';

/**
 * The OpenAPI 3.1 document of every HTTP route, built from the zod schemas the routes validate
 * with. ROUTES below is the one list: a new route is one entry there (test/openapi.test.ts walks
 * the Express routers and fails for a route missing from it). Paths are written as Express
 * mounts them (`/api/practices/:practiceId`); the document shows them OpenAPI style.
 */

export const OPENAPI_PATH = '/api/openapi.json';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: an API key with one of `roles`, Twilio's signature, the vendor's, a URL token, or anyone. */
type Access =
  | { kind: 'apiKey'; roles: readonly ApiKeyRole[] }
  | { kind: 'twilio' }
  | { kind: 'rvmVendor' }
  | { kind: 'urlToken' }
  | { kind: 'metricsToken' }
  /** The session cookie (`__Host-ahl_session`): a signed-in person, or one half-way (password done, second factor to come). */
  | { kind: 'session'; stage: 'pending' | 'full' }
  | { kind: 'public' };

export interface RouteBody {
  schema: z.ZodType;
  /** A request that passes `schema`: shown in the document and checked by the tests. */
  example: unknown;
  /** Default application/json; Twilio posts application/x-www-form-urlencoded. */
  contentType?: string;
  description?: string;
  /** Other media types the route also takes (CSV recipients). */
  alternatives?: Record<string, z.ZodType>;
}

export interface RouteDoc {
  method: Method;
  /** Express style, as mounted: `/api/oncall/providers/:id`. */
  path: string;
  summary: string;
  description?: string;
  access: Access;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: RouteBody;
  /** The success answer; `schema` when it is JSON with a known shape. */
  ok: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  /**
   * Further answers besides the usual errors (400/401/403/404 are added by access and inputs):
   * below 400 with the success answer's body, from 400 with the error shape, unless `same`.
   */
  also?: Record<number, string | { description: string; same: 'ok' | 'error' }>;
}

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/** One call of `GET /api/calls` (src/calls/call-list.ts, ListedCall). */
const ListedCallSchema = z.object({
  callSid: CallSidSchema,
  startedAt: z.iso.datetime(),
  endedAt: z.iso.datetime().nullable(),
  durationSeconds: z.number().int().nullable(),
  status: z.string(),
  callerNumber: z.string().nullable().meta({ description: 'E.164 (admin, staff, provider), or "masked" (auditor: never decrypted); null: withheld' }),
  patient: z.object({ match: z.enum(['verified', 'number', 'unknown']), patientId: z.uuid().nullable() }),
  path: z.array(z.string()).meta({ description: 'the menu options taken, by name (the flow node each led to), in order' }),
  outcome: z.enum(CALL_OUTCOMES).nullable(),
  urgency: z.enum(['urgent', 'routine']).nullable(),
  voicemailIds: z.array(z.uuid()),
});

const ANY: readonly ApiRole[] = API_ROLES;
const ADMIN: readonly ApiRole[] = ['admin'];
const RVM_WRITE: readonly ApiRole[] = ['admin', 'staff'];
const RVM_READ: readonly ApiRole[] = ['admin', 'staff', 'auditor'];
const HANDLERS: readonly ApiRole[] = ['admin', 'staff', 'provider'];

const api = (roles: readonly ApiKeyRole[]): Access => ({ kind: 'apiKey', roles });
/** The platform operator's key (no practice): the platform routes only. */
const OPERATOR: readonly ApiKeyRole[] = [OPERATOR_ROLE];
const TWILIO: Access = { kind: 'twilio' };

/**
 * A route entry, written short: the method's helper with the path, summary, access and success
 * answer, then whatever else the route has (params, query, body, description, also).
 */
type RouteMore = Omit<RouteDoc, 'method' | 'path' | 'summary' | 'access' | 'ok'>;
const route =
  (method: Method) =>
  (path: string, summary: string, access: Access, ok: RouteDoc['ok'], more: RouteMore = {}): RouteDoc => ({ method, path, summary, access, ok, ...more });
const get = route('get');
const post = route('post');
const put = route('put');
const patch = route('patch');
const del = route('delete');

/** The success answers: JSON (200 unless `status` says), 201 with what was made, 204 with nothing. */
const ok = (description: string, schema?: z.ZodType, status = 200): RouteDoc['ok'] => ({ status, description, ...(schema ? { schema } : {}) });
const created = (description: string, schema: z.ZodType): RouteDoc['ok'] => ok(description, schema, 201);
const noContent = (description: string): RouteDoc['ok'] => ({ status: 204, description });
/** A list answer: `{ <key>: [item, …] }`. */
const listOf = (key: string, item: z.ZodType): z.ZodType => z.object({ [key]: z.array(item) });

/** The API's error answer, one shape everywhere. */
export const ErrorSchema = z.object({ error: z.string(), message: z.string().optional() }).meta({ id: 'Error', description: 'error code and a human-readable message (never echoing the input)' });

const uuid = (description: string): z.ZodType => z.uuid().meta({ description });
const Instant = z.iso.datetime({ offset: true });
const Obj = (description: string): z.ZodType => z.looseObject({}).meta({ description });

const EX = {
  providerId: '0b7d3c1e-2f4a-4b6c-8d9e-1a2b3c4d5e6f',
  providerId2: '1c8e4d2f-3a5b-4c7d-9e0f-2b3c4d5e6f70',
  scheduleId: '2d9f5e3a-4b6c-4d8e-8f1a-3c4d5e6f7081',
  patientId: '3e0a6f4b-5c7d-4e9f-9a2b-4d5e6f708192',
  dropId: '4f1b7a5c-6d8e-4f0a-8b3c-5e6f708192a3',
  callSid: `CA${'0123456789abcdef'.repeat(2)}`,
  accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
  practiceNumber: '+12025550100',
  callerNumber: '+12025550123',
} as const;

const PracticeIdParams = z.object({ practiceId: uuid('the practice') });
const PracticeNumberParams = PracticeIdParams.extend({ e164: E164Schema.meta({ description: 'an E.164 number, URL-encoded (%2B12025550100)' }) });
const IdParams = z.object({ id: uuid('the resource') });
const FlowIdParams = z.object({ flowId: z.string().meta({ description: 'a built-in flow id' }) });
const ContactParams = PracticeIdParams.extend({ key: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/).meta({ description: 'the contact key, as flows name it' }) });
const FlowVersionSummarySchema = z.object({ version: z.number().int(), description: z.string(), createdAt: z.iso.datetime({ offset: true }), createdBy: z.string() });
const LineFlowSchema = z.object({ e164: E164Schema, flowId: z.string(), version: z.number().int().nullable(), builtIn: z.boolean() });
const ContactSchema = z.object({ key: z.string(), label: z.string(), number: E164Schema, updatedAt: z.iso.datetime({ offset: true }) });
const OverrideParams = z.object({ id: uuid('the schedule'), overrideId: uuid('the override') });
const PageParams = z.object({ pageId: uuid('the page') });
const SwapSchema = z
  .object({
    id: z.uuid(),
    scheduleId: z.uuid(),
    fromProviderId: z.uuid(),
    toProviderId: z.uuid(),
    start: Instant,
    end: Instant,
    state: z.enum(['pending', 'accepted', 'declined', 'cancelled']),
    requestedBy: z.string(),
    decidedBy: z.string().nullable(),
    decidedAt: Instant.nullable(),
    overrideId: z.uuid().nullable(),
    createdAt: Instant,
  })
  .meta({ id: 'Swap' });
const PatientParams = z.object({ patientId: uuid('the patient') });
const CampaignParams = z.object({ campaignId: uuid('the campaign') });
const CampaignCommandParams = CampaignParams.extend({ command: z.enum(CAMPAIGN_COMMANDS as [string, ...string[]]) });
const CallParams = z.object({ callSid: CallSidSchema.meta({ description: 'CA followed by 32 hex characters' }) });
/** `GET /api/pages?status=`: anything but open/acknowledged lists every page. */
const CommunicationMatrixAnswer = z
  .object({
    version: z.number().int(),
    isDefault: z.boolean(),
    updatedAt: Instant.nullable(),
    updatedBy: z.string().nullable(),
    matrix: MatrixSchema,
    locked: z.array(z.object({ type: z.enum(MESSAGE_TYPES), channel: z.enum(CHANNELS), why: z.string() })).meta({ description: 'the cells no practice may close (always allowed), and why' }),
  })
  .meta({ id: 'CommunicationMatrix' });
const PagesQuery = z.object({ status: z.enum(['open', 'acknowledged']).optional() });

const PatientSummarySchema = z.looseObject({ id: z.uuid(), firstName: z.string().nullable(), lastName: z.string().nullable(), dateOfBirth: z.string(), mrn: z.string().nullable(), active: z.boolean(), mergedInto: z.uuid().nullable() });
const PatientDetailSchema = PatientSummarySchema.extend({
  email: z.string().nullable().meta({ description: 'the address for notice e-mails (lower case), decrypted; null: none' }),
  recallDue: z.iso.date().nullable().meta({ description: 'when the patient is due for recall (YYYY-MM-DD); null: none' }),
});
const EmailNoticeOutcomeSchema = z.object({
  outcome: z.union([
    z.object({ kind: z.literal('sent'), messageId: z.string() }),
    z.object({ kind: z.literal('skipped'), reason: z.enum(['no_consent', 'opted_out', 'no_email', 'matrix']), cell: z.string().optional().meta({ description: 'the matrix cell that refused (`recall × email`), for reason matrix' }) }),
  ]),
});
const AppointmentSchema = z.object({ id: z.uuid(), patientId: z.uuid(), startsAt: Instant, status: z.enum(APPOINTMENT_STATUSES), providerId: z.uuid().nullable(), locationName: z.string().nullable(), createdAt: Instant, updatedAt: Instant });
const ImportReportSchema = z.looseObject({
  kind: z.enum(['patients', 'appointments']),
  dryRun: z.boolean(),
  committed: z.boolean(),
  rows: z.number(),
  created: z.number(),
  updated: z.number(),
  duplicate: z.number(),
  invalid: z.number(),
  entries: z.array(z.object({ row: z.number(), outcome: z.enum(['invalid', 'duplicate']), field: z.string(), reason: z.string(), existingId: z.uuid().optional() })),
  entriesTruncated: z.boolean(),
});

const ImportAcceptedSchema = z.object({ id: z.uuid(), kind: z.enum(['patients', 'appointments']), dryRun: z.boolean(), status: z.literal('queued') }).meta({ id: 'ImportAccepted' });
const ImportSummarySchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(['patients', 'appointments']),
    dryRun: z.boolean(),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    rowsRead: z.number().int(),
    uploadBytes: z.number().int().nullable(),
    committed: z.boolean(),
    created: z.number().int(),
    updated: z.number().int(),
    duplicate: z.number().int(),
    invalid: z.number().int(),
    failure: z.enum(Object.keys(IMPORT_FAILURES) as [ImportFailure, ...ImportFailure[]]).nullable(),
    createdBy: z.string(),
    createdAt: Instant,
    startedAt: Instant.nullable(),
    finishedAt: Instant.nullable(),
  })
  .meta({ id: 'ImportSummary' });
const ImportDetailSchema = ImportSummarySchema.extend({
  message: z.string().nullable(),
  report: ImportReportSchema.extend({ entriesTotal: z.number().int(), limit: z.number().int(), offset: z.number().int() }).nullable(),
}).meta({ id: 'Import' });

const PracticeSchema = z.looseObject({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  greetingName: z.string(),
  timeZone: z.string(),
  fallbackNumber: E164Schema.nullable(),
  frontDeskNumber: E164Schema.nullable(),
  languages: z.array(z.enum(LANGUAGES)),
  weeklyHours: WeeklyHoursSchema,
  holidays: HolidaysSchema,
  voicemailRetentionDays: z.number().int(),
  voicemailTranscription: z.boolean(),
  accessNumber: E164Schema.nullable(),
  smsAutoReply: z.string().nullable(),
  suspended: z.boolean(),
  routineCallbackHours: z.number().int(),
  idleLogoffMinutes: z.number().int(),
  patientPortalUrl: z.string().nullable(),
  messagingServiceSid: z.string().nullable().meta({ description: 'The Twilio Messaging Service patient SMS go out through (MG…); null: none, patient SMS are refused' }),
  numbers: z.array(z.looseObject({ e164: E164Schema, flowId: z.string() })),
  /** Open, closed or a holiday now (the service's clock, the practice's wall clock), and when it next opens. */
  hoursNow: z.object({ status: z.enum(['open', 'closed', 'holiday']), nextOpening: Instant.nullable() }).optional(),
}).meta({ id: 'Practice' });
const ProviderSchema = z.object({
  id: z.uuid(),
  practiceId: z.uuid(),
  displayName: z.string(),
  phone: E164Schema,
  smsPhone: E164Schema.nullable(),
  isPracticeAdmin: z.boolean(),
  active: z.boolean(),
  hasPin: z.boolean(),
  feedTokenIssuedAt: Instant.nullable(),
  createdAt: Instant,
  updatedAt: Instant,
}).meta({ id: 'Provider' });
const PolicySchema = z.looseObject({ id: z.uuid(), name: z.string(), repeat: z.number().int(), pageIntervalMinutes: z.number(), pageMaxRepeats: z.number().int(), isDefault: z.boolean() }).meta({ id: 'EscalationPolicy' });
const ScheduleSchema = z
  .looseObject({ id: z.uuid(), practiceId: z.uuid(), name: z.string(), timeZone: z.string(), rotation: z.looseObject({ members: z.array(z.uuid()), length: z.enum(['daily', 'weekly']) }), createdAt: Instant, updatedAt: Instant })
  .meta({ id: 'Schedule' });
const PageSchema = z
  .object({
    id: z.uuid(),
    callSid: CallSidSchema,
    referenceCode: z.string(),
    status: z.enum(['open', 'acknowledged']),
    roundsSent: z.number().int(),
    adminPaged: z.boolean(),
    createdAt: Instant,
    acknowledgedAt: Instant.nullable(),
  })
  .meta({ id: 'Page' });
/** `GET /api/pages/:pageId` (src/oncall/page-detail.ts): what the doctor's page view shows. */
const PageDetailSchema = PageSchema.extend({
  acknowledgedBy: z.string().nullable().meta({ description: '`user:<id>`, `provider:<id>` or `api_key:<id>`; null while open' }),
  acknowledgedByName: z.string().nullable().meta({ description: "a member's or provider's display name; null for a key or one no longer known" }),
  reason: z.enum(REASONS).nullable().meta({ description: "the task's reason, else the call's" }),
  urgency: z.enum(['urgent', 'routine']).nullable(),
  voicemail: z.object({ id: z.uuid(), state: z.enum(['received', 'stored', 'complete', 'failed', 'expired']) }).nullable().meta({ description: 'the voicemail the page announces' }),
  task: z.object({ id: z.uuid(), status: z.enum(['open', 'claimed', 'done', 'unreachable', 'cancelled']) }).nullable().meta({ description: "that voicemail's callback task (GET /api/tasks/:id)" }),
  callbackNumber: z.string().nullable().meta({ description: "the task's callback number, else the caller's (E.164); `masked` for an auditor; null: none on record" }),
}).meta({ id: 'PageDetail' });
/** An audit row as stored (hash-chained); `details` holds ids and codes, never PHI. */
const AuditEventSchema = z.looseObject({ seq: z.number().int(), at: Instant, practiceId: z.uuid().nullable(), actor: z.string(), action: z.string(), details: z.record(z.string(), z.unknown()) }).meta({ id: 'AuditEvent' });
const VoicemailSummarySchema = z.object({
  id: z.uuid(),
  referenceCode: z.string(),
  urgency: z.enum(['urgent', 'routine']),
  state: z.string(),
  callSid: CallSidSchema,
  callerVerified: z.boolean(),
  durationSeconds: z.number().int().nullable(),
  createdAt: Instant,
  storedAt: Instant.nullable(),
  acknowledgedAt: Instant.nullable(),
  acknowledgedBy: z.string().nullable().meta({ description: 'the actor: user:<id> or api_key:<id> (provider:<id> on the access line)' }),
  acknowledgedByName: z.string().nullable().meta({ description: "who acknowledged, by name (a member's display name, a provider's); null for a key" }),
  acknowledgedWithNote: z.boolean(),
  acknowledgedNote: z.string().nullable().meta({ description: 'the note left on acknowledgement; null when none, and always for auditors (their numbers are masked too)' }),
  simulated: z.boolean(),
  callerNumber: z.string().nullable().meta({ description: "the caller's number (masked for auditors); null: withheld" }),
  reason: z.enum(REASONS).nullable(),
  patient: z.object({ match: z.enum(['verified', 'number', 'unknown']), patientId: z.uuid().nullable() }),
  task: z.object({ id: z.uuid(), status: z.enum(TASK_STATUSES) }).nullable().meta({ description: 'the callback task it became (null: not yet)' }),
}).meta({ id: 'VoicemailSummary' });
const TaskSummarySchema = z.object({
  id: z.uuid(),
  source: z.enum(['voicemail', 'message', 'abandoned_call', 'patient_text', 'outreach_reply']),
  sourceId: z.string(),
  callSid: CallSidSchema.nullable(),
  reason: z.enum(REASONS),
  urgency: z.enum(['urgent', 'routine']),
  status: z.enum(TASK_STATUSES),
  assignee: z.string().nullable(),
  patient: z.object({ match: z.enum(['verified', 'number', 'unknown']), patientId: z.uuid().nullable() }),
  dueAt: Instant,
  overdue: z.boolean(),
  attempts: z.number().int(),
  hasCallbackNumber: z.boolean(),
  createdAt: Instant,
  claimedAt: Instant.nullable(),
  closedAt: Instant.nullable(),
  closedBy: z.string().nullable(),
}).meta({ id: 'CallbackTask' });
const TaskDetailSchema = TaskSummarySchema.extend({
  callbackNumber: z.string().nullable().meta({ description: 'E.164 (masked for auditors); null: withheld' }),
  closeNote: z.string().nullable(),
  attemptList: z.array(z.object({ id: z.uuid(), at: Instant, actor: z.string(), outcome: z.enum([...ATTEMPT_OUTCOMES, 'busy', 'failed', 'not_connected', 'logged']), note: z.string().nullable() })),
  patientText: z
    .object({ body: z.string(), mediaCount: z.number().int() })
    .nullable()
    .meta({ description: "a patient_text task's text as the patient sent it (opened, audited as a PHI read); null for other sources and for auditors" }),
}).meta({ id: 'CallbackTaskDetail' });
const CountedSchema = z.object({ count: z.number().int(), list: z.string().nullable().meta({ description: 'the /api path and query that lists what is counted; null: no list route filters this way' }) });
const OvernightReportSchema = z.object({
  practiceId: z.uuid(),
  date: z.string().meta({ description: 'the local date the practice opened on' }),
  period: z.object({ start: Instant, end: Instant, timeZone: z.string() }),
  asOf: Instant,
  calls: z.object({ total: CountedSchema, byOutcome: z.record(z.string(), CountedSchema), byReason: z.record(z.string(), CountedSchema) }),
  tasks: z.object({
    created: CountedSchema,
    open: CountedSchema,
    claimed: CountedSchema,
    overdue: CountedSchema,
    urgentClaimed: z.array(z.object({ taskId: z.uuid(), assignee: z.string().meta({ description: 'user:<id>, provider:<id> or api_key:<id>' }), name: z.string().nullable().meta({ description: "the account's or provider's display name (staff); null for a key" }), claimedAt: Instant })),
  }),
  pages: z
    .array(
      z.object({
        pageId: z.uuid(),
        createdAt: Instant,
        status: z.enum(['open', 'acknowledged']),
        acknowledgedAt: Instant.nullable(),
        acknowledgedBy: z.string().nullable().meta({ description: 'provider:<id> (the access line), user:<id> or api_key:<id>; null while open' }),
        name: z.string().nullable().meta({ description: "who acknowledged it: the provider's or account's display name (staff); null for a key or while open" }),
      }),
    )
    .meta({ description: "the period's pages, oldest first (at most 200), and who acknowledged each" }),
  voicemails: z.object({ urgent: CountedSchema, routine: CountedSchema, heard: CountedSchema, unheard: CountedSchema }),
  lockouts: CountedSchema,
  failedDeliveries: z.object({ drops: CountedSchema, pages: CountedSchema, sms: CountedSchema }),
  failSafeAnswers: CountedSchema,
}).meta({ id: 'OvernightReport' });
/** GET /api/calls/:callSid and its export (src/calls/call-export.ts): numbers masked for an auditor. */
const TimelineLegSchema = z.object({
  legSid: z.string().nullable(),
  kind: z.enum(['parent', 'dial', 'page']),
  tier: z.number().int().nullable(),
  round: z.number().int().nullable(),
  providerId: z.string().nullable(),
  numberTried: z.string().nullable().meta({ description: 'the number dialled (a provider\'s); "masked" for an auditor' }),
  outcome: z.string(),
  durationSeconds: z.number().nullable(),
  at: Instant,
  endedAt: Instant.nullable(),
});
const CallViewSchema = z
  .object({
    call: z.looseObject({ callSid: z.string(), practiceId: z.uuid(), direction: z.string(), status: z.string(), createdAt: Instant }),
    summary: ListedCallSchema.nullable().meta({ description: "the call log's row (null: a call the log does not list)" }),
    legs: z.array(TimelineLegSchema),
    pages: z.array(z.object({ id: z.uuid(), referenceCode: z.string(), status: z.string(), roundsSent: z.number().int(), adminPaged: z.boolean(), acknowledgedAt: Instant.nullable(), acknowledgedBy: z.string().nullable() })),
    timeline: z.array(z.looseObject({ kind: z.enum(['event', 'parent_leg', 'dial_leg', 'page_sms']), at: Instant, seq: z.number().int().nullable() })),
    audit: z.array(AuditEventSchema),
  })
  .meta({ id: 'CallView' });
const ChainProblemSchema = z.object({ seq: z.number().int(), reason: z.string() });
const CallExportSchema = z
  .object({
    kind: z.literal('after-hours-line.call-export'),
    version: z.literal(1),
    exportedAt: Instant,
    exportedBy: z.string(),
    practiceId: z.uuid(),
    callSid: z.string(),
    view: z.enum(['full', 'masked']),
    call: CallViewSchema,
    verification: z
      .object({ chain: z.string(), ok: z.boolean(), from: z.number().int(), to: z.number().int(), rows: z.number().int(), anchorHash: z.string().nullable(), problem: ChainProblemSchema.optional() })
      .nullable()
      .meta({ description: "the stretch of the practice's chain from the call's first event to its last, checked link by link; null: no events" }),
  })
  .meta({ id: 'CallExport' });
const ChainVerifySchema = z.object({
  chain: z.string(),
  ok: z.boolean(),
  rows: z.number().int(),
  problem: ChainProblemSchema.optional(),
  missing: z.object({ from: z.number().int(), to: z.number().int(), checkpointAt: z.string() }).optional(),
  truncated: z.boolean().meta({ description: 'the walk stopped at its bound; the rest was not verified (npm run audit:verify walks it all)' }),
  checkpoints: z.number().int().meta({ description: "the practice's checkpoints compared" }),
  verifiedAt: Instant,
});
const TASK_CONFLICT = 'the task is closed, or claimed by someone else (status and assignee in the answer)';
const VoicemailAckSchema = z.object({ result: z.enum(['acknowledged', 'already_acknowledged']), acknowledgedAt: Instant, acknowledgedBy: z.string().nullable() });
const PageAckSchema = z.object({ result: z.enum(['acknowledged', 'already']), pageId: z.uuid(), referenceCode: z.string() });
const TWIML = 'text/xml';
const TwimlSchema = z.string().meta({ description: 'TwiML: <Response>…</Response>' });

const twilioQuery = {
  step: z.string().regex(/^\d{1,4}$/).meta({ description: 'the flow step number' }),
  node: z.string().regex(NODE_ID).meta({ description: "the flow node's id" }),
  drop: z.uuid().meta({ description: 'the drop id' }),
};
/** A call back's opaque id (src/tasks/call-back.ts): the only thing its TwiML URLs carry. */
const CallBackQuery = z.object({ c: z.uuid() });
const WhisperQuery = z.object({ parent: CallSidSchema.meta({ description: "the caller's CallSid" }), a: z.string().regex(/^\d{1,3}$/).meta({ description: 'the attempt number' }) });
const FallbackBody = z.object({ CallSid: CallSidSchema.optional(), To: z.string().max(256).optional(), ErrorCode: z.string().max(16).optional(), ErrorUrl: z.string().max(2000).optional() });

const voiceExample = { CallSid: EX.callSid, AccountSid: EX.accountSid, From: EX.callerNumber, To: EX.practiceNumber, CallStatus: 'ringing', Direction: 'inbound' };
const voiceBody = (extra: Record<string, string> = {}, description?: string): RouteBody => ({
  schema: VoiceWebhookSchema,
  example: { ...voiceExample, ...extra },
  contentType: 'application/x-www-form-urlencoded',
  ...(description ? { description } : {}),
});
const twiml = (description = 'TwiML for the call (always 200: a failure answers the fail-safe)'): RouteDoc['ok'] => ({ status: 200, description, schema: TwimlSchema, contentType: TWIML });

const rotationExample = { members: [EX.providerId, EX.providerId2], length: 'weekly', handoffTime: '08:00', handoffWeekday: 'mon', startDate: '2026-11-02' };
const policyExample = { name: 'Nights', tiers: [{ target: { kind: 'schedule', scheduleId: EX.scheduleId }, ringSeconds: 25 }], repeat: 1, pageIntervalMinutes: 10, pageMaxRepeats: 3, isDefault: true };

// Import from an EHR (FHIR R4): shapes of the answers (src/fhir/).
const FhirCountsSchema = z.object({
  resources: z.number().int(),
  created: z.number().int(),
  updated: z.number().int(),
  duplicate: z.number().int(),
  invalid: z.number().int(),
  skipped: z.number().int(),
  unchanged: z.number().int().meta({ description: 'a sync: already applied at this version (answered again at the cursor instant), not applied twice' }),
});
const FhirEntrySchema = z
  .object({
    line: z.number().int().optional().meta({ description: 'the NDJSON line (files)' }),
    resource: z.string().optional().meta({ description: 'the resource, Patient/<id> (server sync)' }),
    outcome: z.enum(['invalid', 'duplicate', 'skipped']),
    field: z.string().meta({ description: 'the FHIR element at fault' }),
    reason: z.string(),
  })
  .meta({ id: 'FhirImportEntry', description: 'where and why, never a value' });
const FhirImportReportSchema = FhirCountsSchema.extend({
  resourceType: z.enum(['Patient', 'Appointment']),
  dryRun: z.boolean(),
  committed: z.boolean(),
  entries: z.array(FhirEntrySchema),
  entriesTruncated: z.boolean(),
  runId: z.uuid().meta({ description: 'the run, as GET /api/fhir/runs lists it' }),
}).meta({ id: 'FhirImportReport' });
const FhirSourceSchema = z
  .object({
    practiceId: z.uuid(),
    baseUrl: z.string(),
    tokenUrl: z.string(),
    clientId: z.string(),
    mrnSystem: z.string(),
    keyId: z.string(),
    algorithm: z.enum(['RS384', 'ES384']),
    intervalMinutes: z.number().int().nullable(),
    lastAttemptAt: Instant.nullable(),
    lastSyncedAt: Instant.nullable(),
    lastResult: z.record(z.string(), z.unknown()).nullable().meta({ description: 'status and counts of the last run, or its error reason code' }),
    syncState: z.enum(['never', 'complete', 'partial', 'failed']).meta({ description: 'how the last run ended; partial: it spent its page budget and committed what it fetched' }),
    continuing: z.boolean().meta({ description: 'partial, continuing: the next run is queued at once and goes on from where the last stopped' }),
  })
  .meta({ id: 'FhirSource', description: 'the connection; the private key is never returned' });
const FhirRunSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(['sync', 'ndjson']),
    trigger: z.enum(['api', 'schedule']),
    resourceType: z.enum(['Patient', 'Appointment']).nullable().meta({ description: "an NDJSON file's type; null for a sync (both)" }),
    status: z.enum(['complete', 'partial', 'failed', 'dry_run', 'refused']),
    reason: z.string().nullable().meta({ description: 'a reason code (token_refused, bad_line, …), never a server\'s words' }),
    counts: z.record(z.string(), z.unknown()).meta({ description: 'a sync: counts per type (patients, appointments); a file: its counts (or the refused line)' }),
    startedAt: Instant,
    finishedAt: Instant,
  })
  .meta({ id: 'FhirRun' });
const FhirSyncSchema = z.object({
  ok: z.literal(true),
  complete: z.boolean().meta({ description: 'false: the run spent its page budget, committed what it fetched, and continues on the next run (queued at once)' }),
  continuing: z.boolean(),
  patients: FhirCountsSchema, appointments: FhirCountsSchema, entries: z.array(FhirEntrySchema), entriesTruncated: z.boolean(), syncedAt: Instant });
const fhirSourceExample = {
  baseUrl: 'https://ehr.example.org/fhir/r4',
  tokenUrl: 'https://ehr.example.org/oauth2/token',
  clientId: 'after-hours-line',
  mrnSystem: 'urn:oid:1.2.36.146.595.217.0.1',
  privateKey: { kty: 'EC', crv: 'P-384', kid: 'ahl-2026-11', x: '…', y: '…', d: '…' },
  algorithm: 'ES384',
  intervalMinutes: 60,
};

const Csrf = z.object({ csrfToken: z.string().meta({ description: 'send it back as X-CSRF-Token on every state-changing request of this session' }) });
const Done = Csrf.extend({ next: z.literal('done'), practiceId: z.uuid(), role: z.enum(API_ROLES) });
const Empty = { schema: z.strictObject({}), example: {} };
const ACCOUNT_ROUTES: readonly RouteDoc[] = [
  post('/api/auth/login', 'Sign in with e-mail and password (the first factor)', { kind: 'public' }, ok('the second factor is next', Csrf.extend({ next: z.enum(['totp', 'enrol_totp']) })), { description: 'Sets the session cookie (password stage). The same 401 for an unknown e-mail, a wrong password or a disabled account. Limited per source and per account (429).', body: { schema: LoginBody, example: { email: 'dana@example.org', password: 'a long passphrase of yours' } }, also: { 401: 'wrong e-mail or password', 429: 'too many attempts' } }),
  post('/api/auth/totp/enrol', 'Start TOTP enrolment (password stage)', { kind: 'session', stage: 'pending' }, ok('the secret', z.object({ secret: z.string(), uri: z.string() })), { description: 'The secret and its otpauth:// URI, shown once.', body: Empty, also: { 409: 'already enrolled or signed in' } }),
  post('/api/auth/totp/confirm', 'Confirm TOTP with a first code: the session becomes full', { kind: 'session', stage: 'pending' }, ok('signed in; ten recovery codes, shown once', Done.extend({ recoveryCodes: z.array(z.string()) })), { body: { schema: TotpConfirmBody, example: { code: '123456' } }, also: { 409: 'not enrolling' } }),
  post('/api/auth/totp', 'The second factor: a TOTP code or a recovery code', { kind: 'session', stage: 'pending' }, ok('signed in (a new session id)', Done), { body: { schema: SecondFactorBody, example: { code: '123456' } }, also: { 409: 'already signed in', 429: 'too many attempts' } }),
  post('/api/auth/logout', 'Sign out (this session)', { kind: 'session', stage: 'pending' }, noContent('signed out'), { body: Empty }),
  post('/api/auth/logout-everywhere', 'Sign out every session of the signed-in person', api(ANY), ok('how many sessions ended', z.object({ sessionsEnded: z.number().int() })), { body: Empty }),
  post('/api/auth/invitations/inspect', "What an invitation's accept page may know: the practice's name, and whether single sign-on is open to the invited person", { kind: 'public' }, ok('the invitation can be accepted', z.object({ practiceName: z.string(), sso: z.boolean(), ssoPractice: z.string().nullable() })), { description: 'Never the e-mail, the role or whether the e-mail has an account. ssoPractice is the slug to start the single sign-on with (/api/auth/oidc/start?practice=…), null when sso is false. Limited per source, as accepting is.', body: { schema: InspectInvitationBody, example: { token: 'the token from the link' } }, also: { 404: 'the invitation is unknown, spent or expired' } }),
  post('/api/auth/invitations/accept', 'Accept an invitation: a new account, or, signed in as its person, a new practice for an existing one', { kind: 'public' }, created('the account made', z.object({ userId: z.uuid(), practiceId: z.uuid(), created: z.boolean() })), { description: "An e-mail that has an account already is accepted only with that person's full session (cookie and X-CSRF-Token); no password of an existing account is checked here. Without that session: 409 sign_in_to_accept. A new account may leave out the password when the practice's single sign-on is open to the invited e-mail (inspect says sso: true): it then has none until a password reset sets one, and signs in through single sign-on.", body: { schema: AcceptInvitationBody, example: { token: 'the token from the link', password: 'a long passphrase of yours', displayName: 'Dana Reyes' } }, also: { 200: { description: 'an existing account (signed in) joined the practice', same: 'ok' }, 409: 'sign_in_to_accept: sign in as the invited person, then accept' } }),
  post('/api/auth/password-reset', 'Ask for a password reset link by e-mail', { kind: 'public' }, ok('accepted', z.object({ status: z.literal('accepted') }), 202), { description: 'Always 202, whatever the e-mail: no account is revealed. Without SMTP no e-mail is sent; an admin issues a link instead.', body: { schema: PasswordResetBody, example: { email: 'dana@example.org' } } }),
  post('/api/auth/password-reset/complete', 'Set a new password with a reset link (every session ends)', { kind: 'public' }, noContent('password changed'), { body: { schema: PasswordResetCompleteBody, example: { token: 'the token from the link', password: 'a new long passphrase' } } }),
  get('/api/session', 'The signed-in person: memberships, active practice, CSRF token, deadlines', api(ANY), ok('the session', z.object({ user: z.object({ id: z.uuid(), email: z.string(), displayName: z.string() }), memberships: z.array(z.object({ practiceId: z.uuid(), practiceName: z.string(), role: z.enum(API_ROLES) })), activePracticeId: z.uuid(), role: z.enum(API_ROLES), csrfToken: z.string(), idleDeadline: Instant, idleMsLeft: z.number().int().meta({ description: 'milliseconds until the idle logoff, by the service clock (a page times its warning from this, not from its own clock)' }), absoluteDeadline: Instant })), { also: { 403: { description: 'an API key has no session', same: 'error' } } }),
  put('/api/me/phone', 'Set (or, with null, clear) your own phone: where a call back through the practice line rings you (stored encrypted, never shown back)', api(['admin', 'staff', 'provider']), ok('whether a phone is set', z.object({ hasPhone: z.boolean() })), { body: { schema: MyPhoneBody, example: { phone: '+12025550142' } }, also: { 403: 'an API key has no account' } }),
  post('/api/session/practice', "Switch the session's active practice (a new session id)", api(ANY), ok('switched', Csrf.extend({ activePracticeId: z.uuid(), role: z.enum(API_ROLES) })), { body: { schema: SwitchPracticeBody, example: { practiceId: '3e0a6f4b-5c7d-4e9f-8a1b-4d5e6f708192' } } }),
  get('/api/users', "The practice's people and its pending invitations", api(ADMIN), ok('members and pending invitations', z.object({ users: z.array(MemberSchema), invitations: z.array(PendingInvitationSchema) }))),
  get('/api/users/invitations', "The practice's pending invitations (not accepted, expired or revoked)", api(ADMIN), ok('pending invitations, newest first', listOf('invitations', PendingInvitationSchema))),
  post('/api/users/invitations', 'Invite a person (a one-time link, e-mailed when SMTP is configured, else shown once); earlier pending invitations of the e-mail here end', api(ADMIN), created('the invitation (link only when not e-mailed)', z.object({ invitationId: z.uuid(), link: z.string().optional(), expiresAt: Instant, emailed: z.boolean() })), { body: { schema: InvitationBody, example: { email: 'dana@example.org', role: 'staff' } } }),
  post('/api/users/invitations/:id/revoke', 'Revoke a pending invitation (its link stops working)', api(ADMIN), ok('revoked', z.object({ invitationId: z.uuid(), status: z.literal('revoked') })), { params: InvitationIdParams, body: Empty }),
  patch('/api/users/:id/membership', "Change a person's role in the practice (their sessions for it end)", api(ADMIN), ok('the member', z.object({ user: MemberSchema })), { params: UserIdParams, body: { schema: MembershipPatchBody, example: { role: 'auditor' } }, also: { 409: 'last_admin: the practice would have no active admin' } }),
  post('/api/users/:id/disable', "Disable a person's membership of the practice (their sessions for it and its pending invitations for them end; the account stays)", api(ADMIN), ok('the member', z.object({ user: MemberSchema, sessionsEnded: z.number().int() })), { params: UserIdParams, body: Empty, also: { 409: 'last_admin: the practice would have no active admin' } }),
  post('/api/users/:id/reset-link', 'A one-time password reset link for a person of this practice only', api(ADMIN), created('the link, shown once', z.object({ link: z.string(), expiresInSeconds: z.number().int() })), { params: UserIdParams, body: Empty, also: { 409: 'the person belongs to other practices too' } }),
  // Single sign-on (OpenID Connect, src/auth/oidc.ts): a browser's navigations, then the admin's configuration.
  get('/api/auth/oidc/start', "Single sign-on: to the practice's OpenID provider", { kind: 'public' }, { status: 303, description: "to the provider's authorization endpoint (Location)" }, { description: 'A browser navigation. Redirects (303) to the provider with PKCE (S256), state and nonce kept server-side for 10 minutes, and sets `__Host-ahl_oidc` (HttpOnly, SameSite=Lax) to bind the callback to this browser. A practice with no enabled single sign-on, or a provider that cannot be discovered: 303 to `/console/sign-in?sso=unavailable`.', query: OidcStartQuery, also: { 429: 'too many attempts' } }),
  get('/api/auth/oidc/callback', "Single sign-on: the provider's redirect back", { kind: 'public' }, { status: 303, description: 'to the console (Location); sets the session cookie when signed in' }, { description: "Each state is used once. The code is exchanged and the ID token checked (signature, issuer, audience, expiry, nonce); the e-mail must be verified, in one of the practice's domains, and belong to an active member of the practice (no account is created). 303 to `/console/` (signed in), `/console/sign-in?sso=totp` or `?sso=enrol_totp` (the practice does not attest its provider's MFA: the second factor is next, GET /api/auth/pending), or `/console/sign-in?sso=failed` (audited with a reason code).", query: OidcCallbackQuery, also: { 429: 'too many attempts' } }),
  get('/api/auth/pending', "A sign-in under way: its next step and the session's CSRF token", { kind: 'session', stage: 'pending' }, ok('the next step', Csrf.extend({ next: z.enum(['totp', 'enrol_totp']), method: z.string() })), { description: 'For the console after a single sign-on that asks for TOTP (the password sign-in answers the same in its own response).' }),
  put('/api/practices/:practiceId/sso', "The practice's single sign-on (OpenID Connect provider)", api(ADMIN), ok('replaced', SsoView), { description: 'The issuer must be https (http only to a loopback address, outside production); the client secret is stored encrypted and never returned. Redirect URI to register at the provider: `<PUBLIC_BASE_URL>/api/auth/oidc/callback`.', params: SsoParams, body: { schema: SsoBody, example: { issuer: 'https://login.example.org', clientId: 'after-hours-line', clientSecret: 'the-secret-the-provider-issued', allowedDomains: ['riverside-peds.example'], ssoSatisfiesMfa: false, enabled: true } }, also: { 201: { description: 'created', same: 'ok' } } }),
  get('/api/practices/:practiceId/sso', "The practice's single sign-on (never the secret)", api(['admin', 'auditor']), ok('the configuration', SsoView), { params: SsoParams, also: { 404: 'none yet' } }),
  del('/api/practices/:practiceId/sso', "Remove the practice's single sign-on", api(ADMIN), noContent('removed'), { params: SsoParams }),
];

const FHIR_ROUTES: readonly RouteDoc[] = [
  post(
    '/api/fhir/import',
    'Import a FHIR Bulk Data NDJSON file (Patient.ndjson or Appointment.ndjson)',
    api(ADMIN),
    ok('the report (counts; invalid, duplicate and skipped resources by line and field)', FhirImportReportSchema),
    {
      description: `The body is the file itself, streamed (at most ${MAX_NDJSON_BYTES} bytes). Patients first: an Appointment names its patient by the Patient resource imported before (or by MRN). A line that is not a resource of the named type refuses the whole file (400 naming the line; nothing imported); a resource that cannot be mapped is reported by line and field and the others are imported. \`dryRun=true\` reports without writing.`,
      query: FhirImportQuery,
      body: { schema: z.string().meta({ description: 'one FHIR R4 resource (JSON) per line' }), example: '{"resourceType":"Patient","id":"example","identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"birthDate":"1974-12-25"}\n', contentType: 'application/x-ndjson', alternatives: { 'application/fhir+ndjson': z.string() }, },
      also: { 413: 'the body is too large (nothing imported)' },
    },
  ),
  put('/api/fhir/source', "The practice's FHIR server (SMART Backend Services) and its sync schedule", api(ADMIN), ok('replaced', FhirSourceSchema), { body: { schema: FhirSourceBody, example: fhirSourceExample }, also: { 201: { description: 'created', same: 'ok' } } }),
  get('/api/fhir/source', "The practice's FHIR server connection (never the key)", api(['admin', 'auditor']), ok('the source', FhirSourceSchema), { also: { 404: 'no FHIR source yet' } }),
  post(
    '/api/fhir/sync',
    'Sync from the FHIR server now (Patients, then Appointments, updated since the last run)',
    api(ADMIN),
    ok('counts per resource type', FhirSyncSchema),
    {
      description: `Each type is searched \`_lastUpdated=ge<cursor>\` sorted by lastUpdated. A run fetches at most its page budget (${SYNC_PAGE_BUDGET} pages of ${SYNC_PAGE_SIZE}): past it, it commits what it fetched, keeps where it stopped, answers \`complete: false\`, and the next run (queued within a minute) goes on from there.`,
      also: { 404: 'no FHIR source yet (PUT /api/fhir/source)', 409: 'a sync of this practice is running', 502: 'the server or its token endpoint refused or failed, or is at a refused address (reason code and message; nothing imported)' },
    },
  ),
  get('/api/fhir/runs', 'The latest import runs, server syncs and NDJSON files alike (status and counts), newest first', api(['admin', 'auditor']), ok('the runs', listOf('runs', FhirRunSchema)), { query: FhirRunsQuery }),
];

// ---------------------------------------------------------------------------
// The routes
// ---------------------------------------------------------------------------

export const ROUTES: readonly RouteDoc[] = [
  // --- Service --------------------------------------------------------------
  get('/healthz', 'Liveness: the process is up', { kind: 'public' }, ok('up', z.object({ status: z.literal('ok') }))),
  get(
    '/readyz',
    'Readiness: PostgreSQL, Redis and storage reachable',
    { kind: 'public' },
    ok('ready', z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.string()) })),
    { also: { 503: { description: 'not ready: the failing check is named', same: 'ok' } } },
  ),
  get('/metrics', 'Prometheus scrape (no PHI in any label)', { kind: 'metricsToken' }, { status: 200, description: 'Prometheus text exposition', schema: z.string(), contentType: 'text/plain' }, { also: { 401: 'no valid METRICS_TOKEN' } }),
  get(OPENAPI_PATH, 'This document (OpenAPI 3.1)', { kind: 'public' }, ok('the OpenAPI document', Obj('OpenAPI 3.1 document')), { description: 'No API key needed: it documents routes, not data.' }),

  // --- Twilio webhooks --------------------------------------------------------
  post('/twilio/voice/incoming', "A call arrives (the number's voice URL)", TWILIO, twiml(), { body: voiceBody() }),
  post('/twilio/voice/flow', "The call flow's <Gather>, <Dial> and <Record> actions", TWILIO, twiml(), { query: z.object({ s: twilioQuery.step, n: twilioQuery.node, empty: z.literal('1').optional().meta({ description: 'set when the <Gather> got no input' }) }), body: voiceBody({ CallStatus: 'in-progress', Digits: '1' }) }),
  post('/twilio/voice/whisper', "The provider's leg before it is bridged (the whisper)", TWILIO, twiml('TwiML for the provider leg (a failure hangs that leg up)'), { query: WhisperQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', ParentCallSid: EX.callSid }) }),
  post('/twilio/voice/whisper-answer', "The provider's keypress on the whisper", TWILIO, twiml('TwiML for the provider leg (a failure hangs that leg up)'), { query: WhisperQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', Digits: '1' }) }),
  post('/twilio/callback/answer', 'A call back: the person calling back answered their phone (which practice, press 1; nothing of the patient)', TWILIO, twiml('TwiML for their leg (a failure hangs it up)'), { query: CallBackQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api' }) }),
  post('/twilio/callback/connect', "A call back: their key; 1 dials the patient with the practice's number as caller ID", TWILIO, twiml('TwiML: the <Dial> to the patient, or goodbye'), { query: CallBackQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', Digits: '1' }) }),
  post('/twilio/callback/dialed', "A call back: the <Dial> to the patient ended; its outcome becomes the task's attempt", TWILIO, twiml('TwiML: goodbye, or the access line menu'), { query: CallBackQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', DialCallStatus: 'completed' }) }),
  post('/twilio/callback/status', "A call back: either leg's status callback (call records, timeline; their leg ending undialled settles it as not connected)", TWILIO, twiml('an empty TwiML document'), { query: CallBackQuery, body: voiceBody({ CallStatus: 'completed', Direction: 'outbound-api' }) }),
  post('/twilio/voice/access', 'The provider access line: a call arrives', TWILIO, twiml(), { body: voiceBody() }),
  post('/twilio/voice/access-action', "The access line's <Gather> actions", TWILIO, twiml(), { query: z.object({ s: twilioQuery.step }), body: voiceBody({ CallStatus: 'in-progress', Digits: '1234#' }) }),
  post(
    '/twilio/sms/incoming',
    "The practice number's messaging webhook: a patient's text (stored, then the automatic reply), STOP, START, HELP, a provider's ACK",
    TWILIO,
    twiml('TwiML (<Response/> or a <Message>); 503 when the text could not be stored (Twilio then requests the SMS fallback URL)'),
    {
      body: { schema: SmsSchema, example: { MessageSid: `SM${'0123456789abcdef'.repeat(2)}`, AccountSid: EX.accountSid, From: EX.callerNumber, To: EX.practiceNumber, Body: 'Please call me back', NumMedia: '0' }, contentType: 'application/x-www-form-urlencoded' },
    },
  ),
  post(
    '/twilio/sms/fallback',
    "The practice number's SMS fallback URL: stores the text if it can now, else tells the patient it was not received",
    TWILIO,
    twiml('TwiML: the automatic reply once stored, else "we could not receive your message" with 911 and the number to call'),
    {
      body: { schema: SmsSchema, example: { MessageSid: `SM${'0123456789abcdef'.repeat(2)}`, AccountSid: EX.accountSid, From: EX.callerNumber, To: EX.practiceNumber, Body: 'Please call me back', NumMedia: '0' }, contentType: 'application/x-www-form-urlencoded' },
    },
  ),
  post(
    '/twilio/voice/fail-safe-dial',
    "The fail-safe <Dial>'s action: speaks only when the fallback line was not reached",
    TWILIO,
    twiml('TwiML: a hang-up after a connected call; the disclaimer and "we could not connect your call" otherwise'),
    { body: voiceBody({ CallStatus: 'in-progress', DialCallStatus: 'no-answer' }) },
  ),
  post('/twilio/voice/status', 'Call status callbacks', TWILIO, twiml('an empty <Response/>'), { body: voiceBody({ CallStatus: 'completed', CallDuration: '42', SequenceNumber: '0' }) }),
  post(
    '/twilio/voice/recording-status',
    'Recording status callbacks (voicemails)',
    TWILIO,
    twiml('an empty <Response/>'),
    {
      query: z.object({ n: twilioQuery.node.optional(), u: z.enum(['urgent', 'routine']).optional(), v: z.literal('1').optional().meta({ description: 'the caller was verified' }) }),
      body: voiceBody({ CallStatus: 'completed', RecordingSid: `RE${'0123456789abcdef'.repeat(2)}`, RecordingStatus: 'completed', RecordingDuration: '17', RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${EX.accountSid}/Recordings/RE${'0123456789abcdef'.repeat(2)}` }),
    },
  ),
  post(
    '/twilio/sms/status',
    "A patient SMS's delivery status (queued, sent, delivered, undelivered, failed with the carrier's ErrorCode): moves its ledger row forward only",
    TWILIO,
    twiml('an empty <Response/>, once the status is stored (503 when it could not be; 400 when malformed)'),
    { body: { schema: SmsStatusParams, example: { MessageSid: `SM${'0123456789abcdef'.repeat(2)}`, MessageStatus: 'undelivered', ErrorCode: '30003' }, contentType: 'application/x-www-form-urlencoded' } },
  ),
  post(
    '/twilio/rvm/answer',
    "A Twilio voicemail drop's TwiML once the greeting ended",
    TWILIO,
    twiml('the drop message, or a hang-up'),
    { query: z.object({ d: twilioQuery.drop }), body: { schema: AnswerParams, example: { CallSid: EX.callSid, AnsweredBy: 'machine_end_beep' }, contentType: 'application/x-www-form-urlencoded' } },
  ),
  post(
    '/twilio/rvm/confirm',
    "A key pressed at a Twilio drop's \"press 1 to confirm your appointment\" (a person who answered an appointment message)",
    TWILIO,
    twiml('"your appointment is confirmed" for 1, else a goodbye; a hang-up for an unknown drop or call'),
    { query: z.object({ d: twilioQuery.drop }), body: { schema: ConfirmParams, example: { CallSid: EX.callSid, Digits: '1' }, contentType: 'application/x-www-form-urlencoded' } },
  ),
  post(
    '/twilio/rvm/status',
    "A Twilio voicemail drop's call status",
    TWILIO,
    twiml('an empty <Response/>'),
    { query: z.object({ d: twilioQuery.drop }), body: { schema: StatusParams, example: { CallSid: EX.callSid, CallStatus: 'completed' }, contentType: 'application/x-www-form-urlencoded' } },
  ),
  post(
    '/twilio/voice/fallback',
    "Twilio's fallback URL: the disclaimer and the practice's fallback number",
    TWILIO,
    twiml(),
    { body: { schema: FallbackBody, example: { CallSid: EX.callSid, To: EX.practiceNumber, ErrorCode: '11200', ErrorUrl: 'https://ahl.example.com/twilio/voice/incoming' }, contentType: 'application/x-www-form-urlencoded' } },
  ),

  // --- Other unauthenticated edges ---------------------------------------------
  post(
    '/rvm/webhook',
    "The ringless-voicemail vendor's drop status",
    { kind: 'rvmVendor' },
    ok('recorded (or already final)', z.object({ result: z.enum(['recorded', 'already_final']) })),
    {
      description: `The vendor signs the raw body with RVM_WEBHOOK_SECRET (${RVM_SIGNATURE_HEADER}).`,
      body: { schema: RvmWebhookSchema, example: { id: 'vendor-drop-81723', foreign_id: EX.dropId, status: 'delivered' } },
      also: { 400: 'not a drop status', 401: 'missing or wrong signature', 404: 'no such drop', 503: 'no vendor configured' },
    },
  ),
  get(
    FEED_PATH,
    "A provider's on-call shifts as an iCalendar feed (for calendar apps)",
    { kind: 'urlToken' },
    { status: 200, description: 'the next 60 days of shifts', schema: z.string(), contentType: 'text/calendar' },
    {
      description: 'No API key: the feed token (POST /api/oncall/providers/{id}/feed-token) is the credential.',
      query: z.object({ token: z.string().regex(FEED_TOKEN_PATTERN).meta({ description: 'the feed token' }) }),
      also: { 404: 'unknown or revoked token' },
    },
  ),
  get(
    '/playback/:token',
    'A single-use voicemail link (<Play> on the access line)',
    { kind: 'urlToken' },
    { status: 200, description: 'the audio', schema: z.string().meta({ format: 'binary' }), contentType: AUDIO_CONTENT_TYPE },
    {
      description: 'No API key: the single-use token (POST /api/voicemails/{id}/playback-link, valid 5 minutes) is the credential. Range requests are answered 206.',
      params: z.object({ token: z.string().regex(PLAYBACK_TOKEN_PATTERN).meta({ description: 'the playback token' }) }),
      also: { 206: 'part of the audio (Range)', 404: 'unknown, used or expired token', 416: 'range not satisfiable' },
    },
  ),

  {
    method: 'get',
    path: '/u/:token',
    summary: "A notice e-mail's unsubscribe link: a page with one button",
    description: `No API key: the signed token (ids only: the practice and the address's blind index; valid ${UNSUBSCRIBE_TOKEN_DAYS} days) is the credential. HTML.`,
    access: { kind: 'urlToken' },
    params: UnsubscribeParams,
    ok: { status: 200, description: 'the confirm page', schema: z.string(), contentType: 'text/html' },
    also: { 404: 'not a valid token', 410: 'the token has expired' },
  },
  {
    method: 'post',
    path: '/u/:token',
    summary: 'Unsubscribe (the page\'s button, or a mail client\'s one-click POST, RFC 8058)',
    description: 'Records the opt-out of the address for the practice (idempotent) and answers 200. The body (`List-Unsubscribe=One-Click`) is not read.',
    access: { kind: 'urlToken' },
    params: UnsubscribeParams,
    ok: { status: 200, description: 'unsubscribed (a short page)', schema: z.string(), contentType: 'text/html' },
    also: { 404: 'not a valid token', 410: 'the token has expired' },
  },

  // --- /api: keys, practices, flows ----------------------------------------------
  get(
    '/api/whoami',
    'The calling key (or signed-in person)',
    api([...ANY, OPERATOR_ROLE]),
    ok("the key's id, role and practice (null for the operator); for a session, keyId null and the person's userId", z.object({ keyId: z.uuid().nullable(), userId: z.uuid().optional(), role: z.enum([...API_ROLES, OPERATOR_ROLE]), practiceId: z.uuid().nullable() })),
  ),

  // --- the platform: practices moving in (src/http/platform-routes.ts) ------------------
  get('/api/practices', 'Every practice, active or suspended', api(OPERATOR), ok('the practices (no patient data)', listOf('practices', PracticeSummarySchema))),
  post(
    '/api/practices',
    'Create a practice with default hours, languages and retention',
    api(OPERATOR),
    created('the practice', PracticeSchema.omit({ numbers: true })),
    {
      description: 'Its first number, when given, is a main line running the after-hours flow; connect it at Twilio with the lines route.',
      body: { schema: PracticeCreateSchema, example: { slug: 'riverside-peds', name: 'Riverside Pediatrics', timeZone: 'America/Chicago', number: '+12025550150', fallbackNumber: '+12025550151' } },
      also: { 409: 'the slug or the number belongs to another practice' },
    },
  ),
  post(
    '/api/practices/:practiceId/suspend',
    "Suspend a practice: its calls get the fail-safe answer (disclaimer, fallback line), its keys 403",
    api(OPERATOR),
    ok('suspended (change: unchanged when it already was)', z.object({ id: z.uuid(), status: z.literal('suspended'), change: z.enum(['changed', 'unchanged']) })),
    { params: PracticeIdParams },
  ),
  post(
    '/api/practices/:practiceId/reactivate',
    'Reactivate a suspended practice',
    api(OPERATOR),
    ok('active again (change: unchanged when it already was)', z.object({ id: z.uuid(), status: z.literal('active'), change: z.enum(['changed', 'unchanged']) })),
    { params: PracticeIdParams },
  ),
  post(
    '/api/practices/:practiceId/lines/:e164/connect',
    "Make a number a line (main, access, drop_callback) and configure it at Twilio",
    api([OPERATOR_ROLE, 'admin']),
    ok('connected (201: the number is new to the practice)', ConnectedLineSchema),
    {
      description: "Sets the number's voice URL, voice fallback URL, status callback and SMS URL from PUBLIC_BASE_URL through Twilio's IncomingPhoneNumbers API, reads them back and lists any difference. The operator may connect any practice's lines, a practice's admin its own. Only a number already registered to the practice is connected, unless the operator assigns it in the same request (`assign: true`, audited as admin.line_assigned); a number of another practice is never moved (409). The work runs in the practice's tenant scope.",
      params: PracticeNumberParams,
      body: { schema: ConnectLineBody, example: { kind: 'main', flowId: 'after-hours' } },
      also: { 201: 'connected, the number assigned to the practice by this request', 409: 'the number is not registered to the practice (and no assign), belongs to another practice, or the Twilio account has no such number', 502: 'Twilio refused or failed', 503: 'no Twilio account configured' },
    },
  ),
  get('/api/flows', 'The call flows a number can run', api(ANY), ok('the loaded flows', listOf('flows', z.object({ id: z.string(), description: z.string() })))),
  get('/api/practices/:practiceId', 'Practice settings and numbers', api(ANY), ok('the practice', PracticeSchema), { params: PracticeIdParams }),
  patch(
    '/api/practices/:practiceId',
    'Change practice settings',
    api(ADMIN),
    ok('the practice as changed', PracticeSchema),
    {
      params: PracticeIdParams,
      body: { schema: PracticePatchSchema, example: { greetingName: 'Riverside Family Medicine', weeklyHours: { mon: [{ open: '08:00', close: '17:00' }], fri: [{ open: '08:00', close: '12:00' }] }, holidays: { dates: ['2026-12-24'], named: ['thanksgiving'] } } },
    },
  ),
  get(
    '/api/practices/:practiceId/communication-matrix',
    'The communication matrix: per message type and channel, allowed or not and the most detail (none, logistics)',
    api(RVM_READ),
    ok('the current version', CommunicationMatrixAnswer),
    { description: 'version 0 and isDefault: the practice uses the defaults (src/outreach/matrix.ts says the rule of each).', params: PracticeIdParams },
  ),
  put(
    '/api/practices/:practiceId/communication-matrix',
    'Replace the communication matrix (a new version, audited); every type and channel, staff_page × sms and × voice stay allowed',
    api(ADMIN),
    ok('the new current version', CommunicationMatrixAnswer),
    { params: PracticeIdParams, body: { schema: MatrixSchema, example: DEFAULT_MATRIX } },
  ),
  put(
    '/api/practices/:practiceId/numbers/:e164',
    'Add a number, or change the flow it runs',
    api(ADMIN),
    ok('changed (201: added)', z.object({ e164: E164Schema, flowId: z.string() })),
    { params: PracticeNumberParams, body: { schema: PracticeNumberBody, example: { flowId: 'after-hours' } }, also: { 201: 'added', 409: 'the number belongs to another practice' } },
  ),
  del('/api/practices/:practiceId/numbers/:e164', 'Remove a number', api(ADMIN), noContent('removed'), { params: PracticeNumberParams }),

  // --- /api: a practice's own phone trees and contacts ---------------------------------
  get('/api/flows/:flowId/source', "A built-in flow's YAML, to copy as a practice's own", api(ANY), { status: 200, description: 'the flow file', schema: z.string(), contentType: 'text/yaml' }, { params: FlowIdParams }),
  get(
    '/api/practices/:practiceId/flows',
    "The built-in flows, the practice's own flows with their versions, and what each line runs",
    api(ANY),
    ok('flows and lines', z.object({ builtIn: z.array(z.object({ flowId: z.string(), description: z.string() })), own: z.array(z.object({ flowId: z.string(), versions: z.array(FlowVersionSummarySchema) })), lines: z.array(LineFlowSchema) })),
    { params: PracticeIdParams },
  ),
  post(
    '/api/practices/:practiceId/flows',
    "Upload a flow (YAML or JSON) as the next version of the practice's flow of that id",
    api(ADMIN),
    created('stored as a new version', z.object({ flowId: z.string(), version: z.number().int(), description: z.string(), createdAt: Instant })),
    {
      description: 'Checked exactly as the built-in flows are (schema, graph rules, the disclosure rule, audio files). A refused flow answers 400 `invalid_flow` with every problem: `file` (always `upload`), `node` when the problem is in one node, `message`. Uploading does not change what any line runs: activate a version with PUT …/lines/{e164}/flow.',
      params: PracticeIdParams,
      body: { schema: FlowUploadBody, example: { format: 'yaml', source: 'id: riverside\ndescription: Riverside after hours\nstart: greeting\nnodes: …' } },
      also: { 400: { description: 'invalid body, or `invalid_flow` with `problems: [{ file, node?, message }]`', same: 'error' } },
    },
  ),
  get(
    '/api/practices/:practiceId/flows/:flowId/versions/:version',
    'One version of a practice flow, as uploaded',
    api(ANY),
    ok('the version', FlowVersionSummarySchema.extend({ flowId: z.string(), format: z.enum(['yaml', 'json']), source: z.string() })),
    { params: PracticeIdParams.extend({ flowId: z.string(), version: z.string().regex(/^[1-9][0-9]*$/) }) },
  ),
  put(
    '/api/practices/:practiceId/lines/:e164/flow',
    'Run a flow on a line: a built-in one (no version) or a version of the practice\'s own',
    api(ADMIN),
    ok('what the line runs now', LineFlowSchema),
    { params: PracticeNumberParams, body: { schema: LineFlowBody, example: { flowId: 'riverside', version: 2 } } },
  ),
  post(
    '/api/practices/:practiceId/lines/:e164/flow/rollback',
    'Run again what the line ran before its latest activation',
    api(ADMIN),
    ok('what the line runs now', LineFlowSchema),
    { params: PracticeNumberParams, also: { 409: 'the line has no earlier activation' } },
  ),
  get('/api/practices/:practiceId/contacts', "The practice's contacts (transfer targets of its flows)", api(ANY), ok('the contacts', listOf('contacts', ContactSchema)), { params: PracticeIdParams }),
  put(
    '/api/practices/:practiceId/contacts/:key',
    'Create or replace a contact',
    api(ADMIN),
    ok('replaced (201: created)', ContactSchema),
    { params: ContactParams, body: { schema: ContactBody, example: { label: 'Nurse line', number: '+12025550142' } }, also: { 201: 'created' } },
  ),
  del('/api/practices/:practiceId/contacts/:key', 'Remove a contact', api(ADMIN), noContent('removed'), { params: ContactParams }),

  // --- /api/oncall ------------------------------------------------------------------
  get('/api/oncall/providers', 'List providers', api(ANY), ok('the providers', listOf('providers', ProviderSchema)), { query: PracticeQuery }),
  post(
    '/api/oncall/providers',
    'Add a provider (with an optional access-line PIN)',
    api(ADMIN),
    created('the provider (the PIN is never shown)', ProviderSchema),
    {
      description: 'The practice\'s first provider, when the practice has no escalation policy yet, comes with a default one: "Default", ringing that provider (25 s), the chain twice, then pages (admin.policy_changed, change created_default).',
      query: PracticeQuery,
      body: { schema: ProviderCreateBody, example: { displayName: 'Dr. Rivera', phone: '+12025550142', smsPhone: null, pin: '4821' } },
    },
  ),
  get('/api/oncall/providers/:id', 'A provider', api(ANY), ok('the provider', ProviderSchema), { params: IdParams, query: PracticeQuery }),
  patch('/api/oncall/providers/:id', 'Change a provider (pin null clears it)', api(ADMIN), ok('the provider as changed', ProviderSchema), { params: IdParams, query: PracticeQuery, body: { schema: ProviderPatchBody, example: { active: false, pin: null } } }),
  get('/api/oncall/providers/:id/shifts.ics', "A provider's shifts for the next 60 days (iCalendar)", api(ANY), { status: 200, description: 'the feed', schema: z.string(), contentType: 'text/calendar' }, { params: IdParams, query: PracticeQuery }),
  post(
    '/api/oncall/providers/:id/feed-token',
    "Issue a provider's calendar-feed token (replaces any earlier one; shown once)",
    api(ADMIN),
    created('the token and the feed URL', z.object({ token: z.string(), url: z.string(), issuedAt: Instant })),
    { params: IdParams, query: PracticeQuery },
  ),
  del('/api/oncall/providers/:id/feed-token', "Revoke a provider's calendar-feed token", api(ADMIN), noContent('revoked'), { params: IdParams, query: PracticeQuery }),
  get('/api/oncall/schedules', 'List schedules', api(ANY), ok('the schedules', listOf('schedules', ScheduleSchema)), { query: PracticeQuery }),
  post(
    '/api/oncall/schedules',
    "Add a schedule (timeZone defaults to the practice's)",
    api(ADMIN),
    created('the schedule', ScheduleSchema),
    { query: PracticeQuery, body: { schema: ScheduleInputSchema, example: { name: 'Weeknights', timeZone: 'America/New_York', rotation: rotationExample } } },
  ),
  get('/api/oncall/schedules/:id', 'A schedule with its current and future overrides', api(ANY), ok('the schedule with its current and future overrides', ScheduleSchema.extend({ overrides: z.array(Obj('an override')) })), { params: IdParams, query: PracticeQuery }),
  patch(
    '/api/oncall/schedules/:id',
    'Change a schedule',
    api(ADMIN),
    ok('the schedule as changed', ScheduleSchema),
    { params: IdParams, query: PracticeQuery, body: { schema: SchedulePatchSchema, example: { rotation: { members: [EX.providerId], length: 'daily', handoffTime: '19:00', startDate: '2026-12-01' } } } },
  ),
  post(
    '/api/oncall/schedules/:id/overrides',
    'Add an override (the latest-created wins where overrides overlap)',
    api(ADMIN),
    created('the override, and what it shadows', z.object({ override: Obj('the override'), resolution: z.object({ rule: z.string(), shadows: z.array(z.uuid()), message: z.string() }).optional() })),
    { params: IdParams, query: PracticeQuery, body: { schema: OverrideInputSchema, example: { providerId: EX.providerId2, start: '2026-12-24T17:00:00-05:00', end: '2026-12-26T08:00:00-05:00' } } },
  ),
  del('/api/oncall/schedules/:id/overrides/:overrideId', 'Delete an override', api(ADMIN), noContent('deleted'), { params: OverrideParams, query: PracticeQuery }),
  get('/api/oncall/schedules/:id/swaps', "A schedule's swap requests, newest first (at most 50; ?state= narrows)", api(ANY), ok('the swaps', listOf('swaps', SwapSchema)), { params: IdParams, query: SwapListQuery }),
  post(
    '/api/oncall/schedules/:id/swaps',
    'Ask to hand a window of the schedule to another provider (a provider asks only for their own shifts, signed in). fromProviderId must be on call for the whole window on that schedule (else 400 naming it), both providers active, the window not ended (else 400 on end). The provider asked is told by SMS after the answer, ids only',
    api(SWAP_REQUESTERS),
    created('the pending swap', SwapSchema),
    { params: IdParams, query: PracticeQuery, body: { schema: SwapInputSchema, example: { fromProviderId: EX.providerId, toProviderId: EX.providerId2, start: '2026-12-24T17:00:00-05:00', end: '2026-12-26T08:00:00-05:00' } } },
  ),
  post(
    '/api/oncall/swaps/:id/accept',
    'Accept a swap (the provider asked, or an admin): makes the override in the same transaction; 409 once it is no longer pending, once its window has passed, or once the window is no longer the asker’s (an override made since the request)',
    api(SWAP_DECIDERS),
    ok('the accepted swap and its override', z.object({ swap: SwapSchema, override: Obj('the override') })),
    { params: IdParams, query: PracticeQuery },
  ),
  post('/api/oncall/swaps/:id/decline', 'Decline a swap (the provider asked, or an admin); 409 once it is no longer pending', api(SWAP_DECIDERS), ok('the declined swap', z.object({ swap: SwapSchema })), { params: IdParams, query: PracticeQuery }),
  post('/api/oncall/swaps/:id/cancel', 'Cancel a swap (whoever asked, or an admin); 409 once it is no longer pending', api(SWAP_CANCELLERS), ok('the cancelled swap', z.object({ swap: SwapSchema })), { params: IdParams, query: PracticeQuery }),
  get('/api/oncall/policies', 'List escalation policies', api(ANY), ok('the policies', listOf('policies', PolicySchema)), { query: PracticeQuery }),
  post('/api/oncall/policies', 'Add an escalation policy', api(ADMIN), created('the policy', PolicySchema), { query: PracticeQuery, body: { schema: PolicyInputSchema, example: policyExample } }),
  get('/api/oncall/policies/:id', 'An escalation policy', api(ANY), ok('the policy', PolicySchema), { params: IdParams, query: PracticeQuery }),
  patch('/api/oncall/policies/:id', 'Change an escalation policy', api(ADMIN), ok('the policy as changed', PolicySchema), { params: IdParams, query: PracticeQuery, body: { schema: PolicyPatchSchema, example: { pageIntervalMinutes: 5, isDefault: true } } }),
  get(
    '/api/oncall/now',
    'Who is on call now, per schedule, and the layer that decided it',
    api(ANY),
    ok('who is on call', z.object({ at: Instant, onCall: z.array(z.looseObject({ scheduleId: z.uuid(), name: z.string(), providerId: z.uuid().nullable(), providerName: z.string().nullable(), layer: z.enum(['none', 'rotation', 'override']) })) })),
    { query: NowQuery, also: { 404: 'no such schedule' } },
  ),
  get(
    '/api/oncall/shifts',
    'The effective shift timeline in [from, to) (at most 62 days)',
    api(ANY),
    ok('the shifts', z.object({ from: Instant, to: Instant, shifts: z.array(z.looseObject({ scheduleId: z.uuid(), providerId: z.uuid(), layer: z.enum(['rotation', 'override']), start: Instant, end: Instant })) })),
    { query: ShiftsQuery, also: { 404: 'no such schedule' } },
  ),

  // --- /api: pages, voicemails, calls, audit --------------------------------------------
  get('/api/pages', "The practice's latest 200 pages", api(ANY), ok('the pages', listOf('pages', PageSchema)), { query: PagesQuery }),
  get('/api/pages/:pageId', 'One page of the practice for the page view: its state, voicemail, task and the number to call back (masked for auditors)', api(ANY), ok('the page', PageDetailSchema), { params: PageParams }),
  post('/api/pages/:pageId/ack', 'Acknowledge a page', api(HANDLERS), ok('acknowledged (or already)', PageAckSchema), { params: PageParams }),
  get('/api/voicemails', 'Voicemail metadata (no audio, no transcript)', api(ANY), ok('the voicemails', listOf('voicemails', VoicemailSummarySchema)), { query: VoicemailListQuery }),
  get('/api/voicemails/dead-letter', 'Voicemails whose processing failed for good', api(ADMIN), ok('the dead-lettered voicemails', listOf('voicemails', Obj('a voicemail')))),
  get(
    '/api/voicemails/:id/audio',
    'The decrypted audio (Range supported; HEAD for the headers)',
    api(HANDLERS),
    { status: 200, description: 'the audio', schema: z.string().meta({ format: 'binary' }), contentType: AUDIO_CONTENT_TYPE },
    { params: IdParams, also: { 206: 'part of the audio (Range)', 409: 'not stored yet', 416: 'range not satisfiable' } },
  ),
  post('/api/voicemails/:id/ack', 'Acknowledge a voicemail (the request\'s actor; an optional note, kept encrypted)', api(HANDLERS), ok('acknowledged (or already)', VoicemailAckSchema), { params: IdParams, body: { schema: AckBody, example: { note: 'called back, refill sent' } } }),
  post('/api/voicemails/:id/retry', 'Requeue a dead-lettered voicemail', api(ADMIN), ok('requeued', z.object({ id: z.uuid(), state: z.string() }), 202), { params: IdParams, also: { 409: 'not dead-lettered, or changed meanwhile' } }),
  post('/api/voicemails/:id/playback-link', 'A single-use playback link, valid 5 minutes', api(HANDLERS), created('the link', z.object({ url: z.string(), expiresAt: Instant })), { params: IdParams, also: { 409: 'not stored yet' } }),
  get(
    '/api/calls',
    "Every call to the practice on record, newest first: the caller's number (masked for auditors; every read in clear audited), the patient matched, the menu path, the outcome, the duration and the call's voicemails",
    api(ANY),
    ok('a page of calls; nextCursor fetches the next (null: no more)', z.object({ calls: z.array(ListedCallSchema), nextCursor: z.string().nullable() })),
    { query: CallListQuery },
  ),
  get(
    '/api/calls/:callSid',
    "A call record with its ordered timeline, legs, pages, audit events and the call log's row",
    api(['admin', 'staff', 'auditor']),
    ok('the call and its timeline', CallViewSchema),
    { description: "Another practice's call answers 404, exactly as a call that never was. Numbers masked for auditors; the caller's number read in clear is audited (call.list_read).", params: CallParams },
  ),
  get(
    '/api/calls/:callSid/export',
    'One call as a JSON file: the record, timeline, legs, pages, its audit events and the verification of the stretch of the chain they sit in',
    api(['admin', 'auditor']),
    ok('the export', CallExportSchema),
    { description: 'Content-Disposition: attachment. Audited as call.exported (counts only) before the file is sent. Numbers masked for auditors.', params: CallParams },
  ),
  get('/api/tasks', 'Callback tasks: overdue first, then by due time', api(ANY), ok('the tasks (no numbers: read one task for its number)', listOf('tasks', TaskSummarySchema)), { query: TaskListQuery }),
  get('/api/tasks/:id', 'A callback task with its attempts and the number to call back (masked for auditors)', api(ANY), ok('the task', TaskDetailSchema), { params: IdParams }),
  post('/api/tasks/:id/claim', 'Claim a callback task (the request\'s actor becomes its assignee)', api(HANDLERS), ok('claimed', TaskSummarySchema), { params: IdParams, also: { 409: TASK_CONFLICT } }),
  post('/api/tasks/:id/attempts', 'Record a try to reach the patient (an open task becomes the actor\'s)', api(HANDLERS), created('recorded', TaskSummarySchema), { params: IdParams, body: { schema: AttemptBody, example: { outcome: 'no_answer', note: 'rang out' } }, also: { 409: TASK_CONFLICT } }),
  post(
    '/api/tasks/:id/assign',
    'Give a callback task to a person of the practice, or release it to open (null); audited as task.assigned or task.released',
    api(ADMIN),
    ok('assigned or released', TaskSummarySchema),
    { params: IdParams, body: { schema: AssignBody, example: { assignee: 'user:3f0c3a52-52a4-4a8e-9d1e-6d3f2b0f8e11' } }, also: { 409: TASK_CONFLICT } },
  ),
  post('/api/tasks/:id/close', 'Close a callback task with its outcome', api(HANDLERS), ok('closed', TaskSummarySchema), { params: IdParams, body: { schema: CloseBody, example: { outcome: 'done' } }, also: { 409: TASK_CONFLICT } }),
  get(
    '/api/reports/overnight',
    "The morning report: the practice's closed period (previous closing to the opening on `date`, on its own clock) in counts, each with the filter that lists its items",
    api(ANY),
    ok('the report', OvernightReportSchema),
    {
      description: 'Without `date`, the latest period that has ended. Calls, voicemails, lockouts, failed deliveries and fail-safe answers are those of the period; tasks as they stand now. No patient data.',
      query: OvernightQuery,
      also: { 404: 'the practice does not open on that date (or has no closed period in the last month)' },
    },
  ),
  post(
    '/api/tasks/:id/call',
    "Call the patient back from the practice's number: Twilio rings your own phone, says which practice and asks for 1, then dials the patient with the practice's number as caller ID",
    api(HANDLERS),
    created('placed (the outcome follows on the task) or logged', z.object({ callId: z.uuid(), state: z.enum(['placed', 'logged']) })),
    {
      description: "Rings a provider's provider phone, anyone else's phone on their account (PUT /api/me/phone); never a number from the request, and yours is never shown to the patient. The outcome (reached, no_answer, busy, failed, not_connected) becomes an attempt on the task when the call ends; with no Twilio account configured the call is logged, not placed, and the attempt is recorded as logged at once. An API key has no phone (409 no_phone).",
      params: IdParams,
      body: { schema: CallBody, example: { to: 'me' } },
      also: { 409: 'the task is closed, has no number to call, you have no phone, the practice has no number to call from, or another call back on this task is under way (call_in_progress; one left without an outcome for 30 minutes is settled failed by the task sweep)', 502: 'Twilio refused the call (recorded as a failed attempt)', },
    },
  ),
  get(
    '/api/audit/export',
    'The whole of an audit search as a file (CSV or NDJSON), streamed, oldest first',
    api(['admin', 'auditor']),
    { status: 200, description: 'the rows, one a line', contentType: 'text/csv' },
    {
      description:
        'The filters of GET /api/audit (no limit: every matching row of the practice). A download (Content-Disposition: attachment). CSV cells starting with = + - @ are prefixed with a quote. Audited as audit.exported with the format and the names of the filters used.',
      query: AuditExportQuery,
    },
  ),
  get('/api/audit', "The practice's audit log, searched by time, call, action and actor", api(['admin', 'auditor']), ok('audit events, oldest first (order=newest: newest first)', listOf('events', AuditEventSchema)), { query: AuditQuery }),
  get(
    '/api/audit/verify',
    "Verify the practice's audit chain against the checkpoints, as npm run audit:verify --practice does (bounded)",
    api(['admin', 'auditor']),
    ok("the chain's verdict", ChainVerifySchema),
    { description: 'Walks at most 200,000 rows (then truncated: true). Audited as audit.verified.', query: AuditVerifyQuery },
  ),

  // --- /api: patients, consent, opt-outs, BAAs (ringless voicemail) ------------------------
  // --- /api: patients and appointments (patient-routes.ts) ---------------------------------
  get('/api/patients', "A page of the practice's patients (active only unless includeInactive=true)", api(RVM_WRITE), ok('the page, decrypted', z.object({ patients: z.array(PatientSummarySchema), limit: z.number(), offset: z.number() })), { query: PatientListQuery }),
  post(
    '/api/patients',
    'Add a patient (stored encrypted, identifiers blind-indexed)',
    api(RVM_WRITE),
    created("the patient's id", z.object({ id: z.uuid() })),
    {
      description: 'A patient with the same MRN, or the same name and date of birth, answers 409 with the existing id.',
      body: { schema: PatientInput, example: { firstName: 'Avery', lastName: 'Quinn', dateOfBirth: '1980-04-12', mrn: 'MRN-1001', phones: [{ number: EX.callerNumber, kind: 'mobile', preferred: true }, { number: '+12025550124', kind: 'home' }], preferredLanguage: 'en', usState: 'FL', timeZone: 'America/New_York', email: 'avery.quinn@example.org', recallDue: '2027-03-01' }, },
      also: { 409: { description: 'a duplicate: the existing id', same: 'error' } },
    },
  ),
  post('/api/patients/lookup', "The ids of the practice's active patients with a number (in the body, never the URL)", api(RVM_WRITE), ok('matching ids', listOf('patientIds', z.uuid())), { body: { schema: LookupBody, example: { phone: EX.callerNumber } } }),
  post(
    '/api/patients/search',
    'Find patients by name, date of birth, phone or MRN (exact match on blind indexes; criteria combine)',
    api(RVM_WRITE),
    ok('the matching page, decrypted', z.object({ patients: z.array(PatientSummarySchema), limit: z.number(), offset: z.number() })),
    { description: 'A name matches the full name (given and family) or the family name alone, case, accents and spacing aside. Criteria are in the body, never the URL.', body: { schema: PatientSearch, example: { name: 'Quinn', dateOfBirth: '1980-04-12' } } },
  ),
  post(
    '/api/patients/import',
    'Import patients from CSV, upserted by MRN (dry run unless dryRun=false): queued as a job',
    api(ADMIN),
    ok("queued: the import's id (Location: /api/imports/{id})", ImportAcceptedSchema, 202),
    {
      description: `A text/csv body, streamed into storage envelope-encrypted (at most ${IMPORT_MAX_BYTES} bytes); the answer (202) is the import's id at once, and GET /api/imports/{id} follows it to its report. Columns: mrn and date_of_birth (required), first_name, last_name, phone, home_phone, preferred_phone (mobile or home), preferred_language, us_state, time_zone, email (one address, for notice e-mails), recall_due (YYYY-MM-DD: when the patient is due for recall). One transaction: with any invalid row nothing is written, and the import's message names the first row and field. Row numbers count the header as row 1.`,
      query: ImportQuery,
      body: { schema: z.string(), example: 'mrn,first_name,last_name,date_of_birth,phone\nMRN-1001,Avery,Quinn,1980-04-12,+12025550123\n', contentType: 'text/csv' },
      also: { 413: 'the body is too large (nothing kept)', 503: 'the job could not be queued (nothing imported; try again)' },
    },
  ),
  get(
    '/api/patients/recall-due',
    "The practice's active, unmerged patients due for recall between two days (both included): ids and recall dates only, paged by id",
    api(RVM_WRITE),
    ok('one page; nextAfter is the `after` of the next page (null: the last page)', z.object({ patients: z.array(z.object({ id: z.uuid(), recallDue: z.iso.date() })), nextAfter: z.uuid().nullable() })),
    { description: 'The sequences\' recall audience reads the same query (src/patients/recall.ts). Nothing is decrypted.', query: RecallDueQuery },
  ),
  get('/api/patients/:patientId', 'A patient, decrypted, with every number and the e-mail address', api(RVM_WRITE), ok('the patient', PatientDetailSchema), { params: PatientIdParams }),
  patch(
    '/api/patients/:patientId',
    'Edit a patient (phones given replace the numbers)',
    api(RVM_WRITE),
    ok('the patient as changed', PatientDetailSchema),
    {
      params: PatientIdParams,
      body: { schema: PatientPatch, example: { preferredLanguage: 'es', phones: [{ number: '+12025550124', kind: 'home', preferred: true }] } },
      also: { 409: { description: 'the change would duplicate another patient: its id', same: 'error' } },
    },
  ),
  post('/api/patients/:patientId/deactivate', 'Deactivate a patient (kept; no longer found by number)', api(RVM_WRITE), ok('deactivated', z.object({ id: z.uuid(), active: z.literal(false) })), { params: PatientIdParams }),
  post(
    '/api/patients/:patientId/merge',
    'Merge a duplicate into this patient',
    api(ADMIN),
    ok('what moved', z.object({ survivorId: z.uuid(), duplicateId: z.uuid(), moved: z.record(z.string(), z.number()) })),
    {
      description: 'In one transaction the duplicate becomes inactive (merged_into this patient) and its numbers, appointments, consents (copied: they are append-only), drops, voicemails and lockouts move here; rows that would clash stay with the duplicate. The survivor takes the e-mail address and recall date of the duplicate when it has none. Nothing is deleted. Audited with both ids.',
      params: PatientIdParams,
      body: { schema: MergeBody, example: { duplicateId: EX.patientId } },
    },
  ),
  get(
    '/api/patients/:patientId/next-appointment',
    'The next appointment a caller would hear of now (booked or confirmed; cancelled and no-show never)',
    api(HANDLERS),
    ok('the next appointment, or null', z.object({ patientId: z.uuid(), next: z.object({ id: z.uuid(), startsAt: Instant }).nullable() })),
    { params: PatientIdParams },
  ),
  get('/api/appointments', 'Appointments, by start', api(HANDLERS), ok('the appointments', listOf('appointments', AppointmentSchema)), { query: AppointmentListQuery }),
  post(
    '/api/appointments',
    'Book an appointment',
    api(RVM_WRITE),
    created('the appointment', AppointmentSchema),
    {
      body: { schema: AppointmentInput, example: { patientId: EX.patientId, startsAt: '2026-12-01T09:30:00-05:00', status: 'booked', providerId: EX.providerId, locationName: 'Main Street clinic' } },
      also: { 409: 'the patient already has an appointment at that time' },
    },
  ),
  post(
    '/api/appointments/import',
    'Import appointments from CSV, by patient MRN (dry run unless dryRun=false): queued as a job',
    api(ADMIN),
    ok("queued: the import's id (Location: /api/imports/{id})", ImportAcceptedSchema, 202),
    {
      description: `A text/csv body, streamed into storage envelope-encrypted (at most ${IMPORT_MAX_BYTES} bytes); 202 with the import's id, followed at GET /api/imports/{id}. Columns: mrn and starts_at (ISO 8601 with offset) required, status (${APPOINTMENT_STATUSES.join(', ')}; booked if empty), provider (id or display name), location. Upserted by patient and start; one transaction: with an invalid row nothing is written, and the message names the row and field.`,
      query: ImportQuery,
      body: { schema: z.string(), example: 'mrn,starts_at,status,location\nMRN-1001,2026-12-01T09:30:00-05:00,booked,Main Street clinic\n', contentType: 'text/csv' },
      also: { 413: 'the body is too large (nothing kept)', 503: 'the job could not be queued (nothing imported; try again)' },
    },
  ),
  get('/api/imports', "The practice's CSV imports, newest first (status, progress, counts)", api(ADMIN), ok('the imports', z.object({ imports: z.array(ImportSummarySchema), limit: z.number().int(), offset: z.number().int() })), { query: ImportListQuery }),
  get(
    '/api/imports/:id',
    'A CSV import: status, rows read, and once done its report (a page of its entries)',
    api(ADMIN),
    ok('the import', ImportDetailSchema),
    {
      description: 'status: queued, running, done (the report: committed or not) or failed (a reason code; nothing imported). message: the first invalid row of an import that wrote nothing, or why it failed. The entries (invalid and duplicate rows by number, column and reason, never a value) are paged with limit and offset.',
      params: ImportIdParams,
      query: ImportEntriesQuery,
    },
  ),
  get('/api/appointments/:id', 'An appointment', api(HANDLERS), ok('the appointment', AppointmentSchema), { params: AppointmentIdParams }),
  patch(
    '/api/appointments/:id',
    'Change an appointment (time, status, provider, place)',
    api(RVM_WRITE),
    ok('the appointment', AppointmentSchema),
    { params: AppointmentIdParams, body: { schema: AppointmentPatch, example: { status: 'confirmed' } }, also: { 409: 'the patient already has an appointment at that time' } },
  ),
  del('/api/appointments/:id', 'Cancel an appointment (never deleted)', api(RVM_WRITE), ok('the cancelled appointment', AppointmentSchema), { params: AppointmentIdParams }),
  get('/api/consent-disclosures', 'Versioned consent disclosure texts', api(RVM_READ), ok('the disclosures', listOf('disclosures', Obj('a disclosure')))),
  post(
    '/api/consent-disclosures',
    'Record a disclosure text (never changed once recorded)',
    api(ADMIN),
    created('the disclosure', Obj('a disclosure')),
    { body: { schema: DisclosureInput, example: { version: 'rvm-2026-11', channel: 'rvm', text: 'We may leave you prerecorded voicemail reminders about appointments. Reply STOP or call us to opt out.' } }, also: { 409: 'that version exists' } },
  ),
  get(
    '/api/patients/:patientId/consents',
    "A patient's consent history and current state per channel",
    api(RVM_READ),
    ok('history and state', z.object({ patientId: z.uuid(), current: z.record(z.enum(CONSENT_CHANNELS), z.string()), history: z.array(Obj('a consent entry')) })),
    { params: PatientParams },
  ),
  post(
    '/api/patients/:patientId/consents',
    'Record a consent grant or revocation (append-only)',
    api(RVM_WRITE),
    created('the consent entry', Obj('a consent entry')),
    { params: PatientParams, body: { schema: ConsentInput, example: { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: 'rvm-2026-11', evidenceRef: 'scan-2026-11-20-0042' } } },
  ),
  post('/api/opt-outs', 'Opt a number out of drops', api(RVM_WRITE), created('recorded (200: already opted out)', z.object({ result: z.string() })), { body: { schema: PhoneBody, example: { phone: EX.callerNumber } }, also: { 200: 'already opted out' } }),
  post('/api/opt-outs/check', 'Whether a number is opted out', api(RVM_READ), ok('the answer', z.object({ optedOut: z.boolean() })), { body: { schema: PhoneBody, example: { phone: EX.callerNumber } } }),
  get('/api/opt-outs', 'Opt-out counts by source', api(RVM_READ), ok('counts', z.object({ bySource: z.record(z.string(), z.number().int()) }))),
  {
    method: 'post',
    path: '/api/patients/:patientId/email-notices',
    summary: 'Send one notice e-mail to a patient now ("please call the office", "a message is waiting at your portal")',
    description:
      "Consults the practice's `<messageType> × email` matrix cell, then needs an address on the patient, the address not opted out and a current `email` consent grant; otherwise the outcome is skipped with the reason (and the cell, for `matrix`), nothing sent. Audited `email.sent` / `email.skipped` with the consent id, matrix cell and version, never the address. 409 when the practice cannot send notices (no SMTP relay, no front desk or fallback number, no patientPortalUrl for the portal notice); 502 when the relay refused.",
    access: api(RVM_WRITE),
    params: EmailNoticeParams,
    body: { schema: EmailNoticeBody, example: { messageType: 'results_ready', templateId: 'portal_message' } },
    ok: { status: 202, description: 'the outcome: sent (its Message-ID) or skipped (why)', schema: EmailNoticeOutcomeSchema },
    also: { 404: 'no such patient in this practice', 409: 'the practice cannot send notices yet (the message says what is missing)', 502: 'the mail relay did not accept the notice' },
  },
  get(
    '/api/email-templates',
    'The built-in notice e-mails and their placeholders',
    api(RVM_WRITE),
    ok('the templates', z.object({ placeholders: z.array(z.enum(EMAIL_PLACEHOLDERS)), templates: z.array(z.object({ id: z.string(), description: z.string(), body: z.string(), messageTypes: z.array(z.enum(EMAIL_MESSAGE_TYPES)) })) })),
  ),
  post(
    '/api/email-templates/check',
    'Check a notice body: the PHI check, the placeholders, and (with messageType) the matrix cell',
    api(RVM_WRITE),
    ok(
      'the verdict',
      z.object({
        ok: z.boolean(),
        problems: z.array(z.looseObject({ kind: z.string(), term: z.string() })),
        matrix: z.object({ cell: z.string(), allowed: z.boolean(), version: z.number().int(), message: z.string().optional() }).nullable(),
      }),
    ),
    { body: { schema: EmailTemplateCheckBody, example: { body: 'Hello,\n\n{practice_name} asks you to call the office at {callback_number}.', messageType: 'recall' } } },
  ),
  post(
    '/api/email-opt-outs',
    "Opt an e-mail address out of the practice's notice e-mails (for good)",
    api(RVM_WRITE),
    created('recorded (200: already opted out)', z.object({ result: z.enum(['recorded', 'already']) })),
    {
      description: 'By blind index; the email consent of every patient with the address is revoked too. The address is never logged or audited.',
      body: { schema: EmailOptOutBody, example: { email: 'avery.quinn@example.org' } },
      also: { 200: 'already opted out' },
    },
  ),
  get('/api/vendor-baas', 'Signed vendor BAAs', api(RVM_READ), ok('the BAAs', listOf('baas', Obj('a BAA')))),
  post('/api/vendor-baas', 'Record a signed vendor BAA', api(ADMIN), created('the BAA', Obj('a BAA')), { body: { schema: VendorBaaInput, example: { vendor: 'twilio', signedAt: '2026-10-01', documentRef: 'contracts/twilio-baa-2026.pdf' } } }),

  // --- /api: drop templates and campaigns --------------------------------------------------
  // --- /api: verification lockouts and API keys --------------------------------------------
  get('/api/lockouts', "The practice's verification lockouts (ids only, never a number)", api(['admin', 'staff', 'auditor']), ok('the lockouts', LockoutListResponse), { query: LockoutListQuery }),
  post(
    '/api/lockouts/:id/clear',
    'Clear a lockout in force (audited; the back-off history is kept)',
    api(['admin', 'staff']),
    ok('the cleared lockout', ClearLockoutResponse),
    { params: LockoutIdParams, also: { 409: 'the lockout is over or already cleared' } },
  ),
  get('/api/practices/:practiceId/api-keys', "The practice's API keys: label, role, expiry, last use, status (never the secret or its hash)", api(ADMIN), ok('the keys', ApiKeyListResponseSchema), { params: ApiKeyPathParamsSchema.pick({ practiceId: true }) }),
  post(
    '/api/practices/:practiceId/api-keys',
    'Create an API key for the practice (a practice role); the key is in this answer only',
    api(ADMIN),
    created('the key, shown once', ApiKeyCreatedSchema),
    {
      description: 'Only its SHA-256 is stored; audited with the key id and role, never the key. As `npm run keys:create`: expiresIn 12h, 90d, 6w, 1y (default) up to 5y, or none.',
      params: ApiKeyPathParamsSchema.pick({ practiceId: true }),
      body: { schema: ApiKeyCreateBody, example: { role: 'staff', label: 'EHR bridge', expiresIn: '90d' } },
    },
  ),
  post('/api/practices/:practiceId/api-keys/:keyId/revoke', 'Revoke an API key at once (audited)', api(ADMIN), ok('revoked (or already revoked)', ApiKeyRevokeResponseSchema), { params: ApiKeyPathParamsSchema }),

  get('/api/drop-templates', "Built-in and the practice's own drop templates", api(RVM_READ), ok('the templates', listOf('templates', Obj('a template')))),
  post(
    '/api/drop-templates',
    "Add a practice template (checked for PHI and placeholders; 400 template_rejected names the problems)",
    api(ADMIN),
    created('the template', Obj('a template')),
    { body: { schema: TemplateInput, example: { name: 'Flu shots', purpose: 'recall', text: 'Hello, this is {practice_name}. Flu shots are available; please call {callback_number} to book. To stop these messages, press 9 or call us.' } } },
  ),
  post(
    '/api/drop-templates/check',
    'Run the PHI and placeholder check on a template text without storing it (the console shows the verdict as it is typed)',
    api(ADMIN),
    ok(
      'the verdict: `ok`, and each problem (kind, the term as written, the list or pattern that caught it); for an SMS template (`channel: sms`) its length in segments',
      z.object({
        ok: z.boolean(),
        problems: z.array(z.object({ kind: z.string(), term: z.string(), category: z.string().optional() })),
        sms: z
          .object({
            encoding: z.enum(['GSM-7', 'UCS-2']),
            segments: z.number().int(),
            units: z.number().int().meta({ description: 'GSM-7 septets or UCS-2 code units of the text as written' }),
            worstCase: z.object({ encoding: z.enum(['GSM-7', 'UCS-2']), segments: z.number().int() }).meta({ description: 'placeholders at their longest, with the opt-out sentence of a first message' }),
            maxSegments: z.number().int(),
          })
          .optional(),
      }),
    ),
    { body: { schema: TemplateCheckInput, example: { purpose: 'recall', text: 'Hello, this is {practice_name}. Please call {callback_number}. To stop these messages, press 8.' } } },
  ),
  get('/api/campaigns', 'List campaigns', api(RVM_READ), ok('the campaigns', listOf('campaigns', Obj('a campaign')))),
  post(
    '/api/campaigns',
    'Create a campaign (optionally with its recipients)',
    api(ADMIN),
    created('the campaign (with `recipients` when patientIds were given)', Obj('a campaign')),
    { body: { schema: CampaignInputSchema, example: { name: 'November recall', templateId: 'recall', templateParams: { callback_number: '(202) 555-0100' }, provider: 'twilio', ratePerMinute: 30, patientIds: [EX.patientId] } } },
  ),
  get('/api/campaigns/:campaignId', "A campaign's progress", api(RVM_READ), ok('progress', Obj('campaign progress')), { params: CampaignParams }),
  get('/api/campaigns/:campaignId/drops', "A campaign's drops", api(RVM_READ), ok('the drops', listOf('drops', Obj('a drop'))), { params: CampaignParams, query: DropsQuery }),
  post(
    '/api/campaigns/:campaignId/recipients',
    'Add recipients: JSON patientIds, or text/csv with a patient_id column',
    api(ADMIN),
    ok('how many were added, and why the others were not', z.object({ added: z.number().int(), summary: z.record(z.string(), z.number().int()), rows: z.array(Obj('a refused row')) })),
    {
      params: CampaignParams,
      body: { schema: RecipientsBody, example: { patientIds: [EX.patientId] }, description: 'JSON patientIds, or `text/csv` with a `patient_id` column', alternatives: { 'text/csv': z.string().meta({ description: 'CSV with a header row naming a patient_id column' }) }, },
    },
  ),
  post('/api/campaigns/:campaignId/dry-run', 'What a start would send, and what it would skip', api(RVM_WRITE), ok('the dry run', Obj('dry-run result')), { params: CampaignParams }),
  post(
    '/api/campaigns/:campaignId/:command',
    `Start, pause, resume or cancel a campaign (${CAMPAIGN_COMMANDS.join(', ')})`,
    api(ADMIN),
    ok('the campaign after the command', Obj('a campaign')),
    { params: CampaignCommandParams, also: { 409: 'not allowed in its state' } },
  ),
  // --- /api: sequences (src/http/sequence-routes.ts) ----------------------------------------
  get('/api/sequences', "The practice's sequences, newest first, with their state and counts", api(RVM_READ), ok('the sequences', SequenceListAnswer), { query: SequenceListQuery }),
  post(
    '/api/sequences',
    'Create a sequence of steps (each a channel, template, wait and condition); each sms or rvm step gets a campaign in draft',
    api(ADMIN),
    created('the sequence id and the matrix cell of each step', z.object({ id: z.uuid(), cells: z.array(z.string()) })),
    {
      description: 'The communication matrix is asked for each step’s `<messageType> × <channel>` cell: a closed one is 409 `matrix_refused` with `cell`. Audited as sequence.created.',
      body: { schema: SequenceInputSchema, example: { name: 'Recall', messageType: 'recall', steps: [{ channel: 'sms', templateId: 'sms-recall', waitHours: 0, condition: 'always' }, { channel: 'rvm', templateId: 'recall', waitHours: 48, condition: 'no_reply' }] } },
      also: { 409: 'a step’s cell of the communication matrix is closed (the answer names the cell)' },
    },
  ),
  get('/api/sequences/:sequenceId', 'A sequence with its steps', api(RVM_READ), ok('the sequence', SequenceDetailAnswer), { params: SequenceParams }),
  post(
    '/api/sequences/:sequenceId/audience',
    'Add an audience to a draft sequence: a CSV, patient ids, a patient search, appointments in a window, or patients due for recall',
    api(ADMIN),
    ok('how many were added, unknown to the practice, or already recipients (and, for appointments, already started)', AudienceAnswerSchema),
    {
      description:
        'JSON with exactly one of: `csv` (as the text/csv body), `patientIds`, `search` (the body of POST /api/patients/search; every page), `appointments` `{from, to, remindBefore}` (booked or confirmed appointments starting in [from, to): each patient’s first step due `remindBefore` hours before their own appointment, or now when that time has gone by; appointments already started are left out and counted as `past`), `recall` `{from?, to?}` (recall date in the window; 2000-01-01 to today unless said). An audience reaching more than 200,000 recipients is refused whole (400 naming its field), never cut short. Audited as sequence.recipients_added with the kind and counts.',
      params: SequenceParams,
      body: { schema: AudienceBody, example: { appointments: { from: '2026-12-07T00:00:00-05:00', to: '2026-12-14T00:00:00-05:00', remindBefore: 48 } }, alternatives: { 'text/csv': z.string().meta({ description: 'CSV with a header row naming a patient_id column (and optionally appointment_id)' }) } },
      also: { 409: 'the sequence is no longer a draft' },
    },
  ),
  get('/api/sequences/:sequenceId/report', 'Per step counts and each recipient’s path (ids only)', api(RVM_READ), ok('the report', SequenceReportAnswer), { params: SequenceParams }),
  get(
    '/api/sequences/:sequenceId/report.csv',
    'Each recipient’s path as CSV, one line per recipient and step (ids only)',
    api(RVM_READ),
    { status: 200, description: 'the rows (Content-Disposition: attachment)', contentType: 'text/csv' },
    { params: SequenceParams },
  ),
  post(
    '/api/sequences/:sequenceId/:command',
    `Start, pause, resume or cancel a sequence (${SEQUENCE_COMMANDS.join(', ')})`,
    api(ADMIN),
    ok('the state after the command', z.object({ state: z.string() })),
    { params: SequenceCommandParams, also: { 409: 'not allowed in its state (or, to start, no audience yet)' } },
  ),
  ...FHIR_ROUTES,
  ...ACCOUNT_ROUTES,
];


// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------

/** `/api/practices/:practiceId` → `/api/practices/{practiceId}`. */
export function toOpenApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

const json = (schema: z.ZodType, contentType = 'application/json'): NonNullable<ResponseConfig['content']> => ({ [contentType]: { schema } });

function responsesOf(route: RouteDoc): Record<number, ResponseConfig> {
  const out: Record<number, ResponseConfig> = {};
  const err = (description: string): ResponseConfig => ({ description, content: json(ErrorSchema) });
  if (route.params || route.query || route.body) out[400] = err('bad input: the message names the field');
  if (route.access.kind === 'apiKey' || route.access.kind === 'urlToken') {
    out[429] = { description: 'too many requests from this source or key (Retry-After says when to try again)', headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds' } }, content: json(ErrorSchema) };
  }
  out[414] = err('query string too long');
  out[431] = err('request headers too large');
  if (route.access.kind === 'apiKey') {
    out[401] = err('no valid API key');
    out[403] = err('the role or practice does not fit');
    if (route.params) out[404] = err('not found');
  }
  if (route.access.kind === 'twilio') out[403] = { description: 'missing or wrong X-Twilio-Signature' };
  const answer = route.ok;
  const success = (description: string): ResponseConfig => ({ description, ...(answer.schema ? { content: json(answer.schema, answer.contentType) } : {}) });
  for (const [code, also] of Object.entries(route.also ?? {})) {
    const status = Number(code);
    const { description, same } = typeof also === 'string' ? { description: also, same: status < 400 ? 'ok' : 'error' } : also;
    out[status] = same === 'ok' ? success(description) : err(description);
  }
  out[answer.status] = success(answer.description);
  return out;
}

function descriptionOf(route: RouteDoc): string {
  const access = route.access;
  const who =
    access.kind === 'apiKey'
      ? `Roles: ${access.roles.join(', ')}.`
      : access.kind === 'twilio'
        ? 'Twilio webhook: signed with X-Twilio-Signature; always answered with TwiML.'
        : access.kind === 'rvmVendor'
          ? 'Ringless-voicemail vendor webhook.'
          : access.kind === 'urlToken'
            ? 'No API key: a token in the URL is the credential.'
            : access.kind === 'metricsToken'
              ? 'Bearer METRICS_TOKEN (not an API key); 404 when METRICS_TOKEN is unset or METRICS_PORT serves it instead.'
              : access.kind === 'session'
                ? 'The session cookie after the password step (Origin and X-CSRF-Token checked).'
                : 'No credential needed.';
  return route.description ? `${who} ${route.description}` : who;
}

function securityOf(access: Access): RouteConfig['security'] {
  switch (access.kind) {
    case 'apiKey':
      // An API key, or a signed-in person's session cookie (with X-CSRF-Token on a state change).
      return [{ apiKey: [] }, { session: [] }];
    case 'session':
      return [{ session: [] }];
    case 'twilio':
      return [{ twilioSignature: [] }];
    case 'rvmVendor':
      return [{ rvmSignature: [] }];
    case 'metricsToken':
      return [{ metricsToken: [] }];
    case 'urlToken':
    case 'public':
      return [];
    default:
      return access satisfies never;
  }
}

/** `post /api/pages/:pageId/ack` → `postApiPagesPageIdAck`: stable names for generated clients. */
export function operationIdOf(method: Method, expressPath: string): string {
  const words = expressPath.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
  return method + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

function tagOf(path: string): string {
  if (path.startsWith('/twilio/')) return 'twilio';
  if (path.startsWith('/api/')) return path.split('/')[2] ?? 'api';
  return 'service';
}

/** The registry of every route in ROUTES. */
export function openApiRegistry(routes: readonly RouteDoc[] = ROUTES): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'an API key from `npm run keys:create`' });
  registry.registerComponent('securitySchemes', 'session', { type: 'apiKey', in: 'cookie', name: '__Host-ahl_session', description: 'a signed-in person (POST /api/auth/login, then /api/auth/totp); state changes also send X-CSRF-Token and an Origin of ours; a request with X-Background: 1 (a page polling by itself) is answered without restarting the idle logoff' });
  registry.registerComponent('securitySchemes', 'twilioSignature', { type: 'apiKey', in: 'header', name: 'X-Twilio-Signature', description: "Twilio's request signature" });
  registry.registerComponent('securitySchemes', 'metricsToken', { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, for the Prometheus scrape only' });
  registry.registerComponent('securitySchemes', 'rvmSignature', { type: 'apiKey', in: 'header', name: RVM_SIGNATURE_HEADER, description: 'HMAC of the raw body with RVM_WEBHOOK_SECRET' });
  for (const route of routes) {
    const body = route.body;
    registry.registerPath({
      method: route.method,
      path: toOpenApiPath(route.path),
      operationId: operationIdOf(route.method, route.path),
      summary: route.summary,
      description: descriptionOf(route),
      tags: [tagOf(route.path)],
      security: securityOf(route.access),
      ...(route.access.kind === 'apiKey' ? { 'x-roles': [...route.access.roles] } : {}),
      request: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.query ? { query: route.query } : {}),
        ...(body
          ? {
              body: {
                required: true,
                ...(body.description ? { description: body.description } : {}),
                content: {
                  [body.contentType ?? 'application/json']: { schema: body.schema, example: body.example },
                  ...Object.fromEntries(Object.entries(body.alternatives ?? {}).map(([type, schema]) => [type, { schema }])),
                },
              },
            }
          : {}),
      },
      responses: responsesOf(route),
    });
  }
  return registry;
}

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

/**
 * The generator marks coerced fields (`z.coerce.number()`, `z.coerce.date()`) nullable, as zod
 * would coerce a JSON null. Query strings, path segments and form fields carry text, never a null:
 * drop it there (JSON bodies keep theirs, where null means something).
 */
function withoutTextNulls(doc: OpenApiDocument): OpenApiDocument {
  const strip = (schema: unknown): void => {
    const s = schema as { type?: unknown } | undefined;
    if (Array.isArray(s?.type) && s.type.includes('null') && s.type.length === 2) s.type = s.type.find((t) => t !== 'null');
  };
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, { parameters?: Array<{ schema?: unknown }>; requestBody?: { content?: Record<string, { schema?: unknown }> } }>)) {
      for (const p of op.parameters ?? []) strip(p.schema);
      const form = op.requestBody?.content?.['application/x-www-form-urlencoded']?.schema as { properties?: Record<string, unknown> } | undefined;
      for (const prop of Object.values(form?.properties ?? {})) strip(prop);
    }
  }
  return doc;
}

/** The whole document; `serverUrl` is PUBLIC_BASE_URL. */
export function openApiDocument(serverUrl: string, routes: readonly RouteDoc[] = ROUTES): OpenApiDocument {
  const doc = new OpenApiGeneratorV31(openApiRegistry(routes).definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'After-hours line',
      version: '1.0.0',
      description: 'Twilio webhooks, the admin API (/api, Bearer API keys; every call audited) and the token-authenticated feeds. Generated from the zod schemas the routes validate with.',
    },
    servers: [{ url: serverUrl }],
  });
  return withoutTextNulls(doc);
}
