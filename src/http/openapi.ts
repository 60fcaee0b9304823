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
import { AnswerParams, StatusParams } from '../drops/drop-service.js';
import { RVM_SIGNATURE_HEADER, RvmWebhookSchema } from '../drops/providers/http-provider.js';
import { PLAYBACK_TOKEN_PATTERN } from '../voicemail/playback-store.js';
import { AUDIO_CONTENT_TYPE } from '../voicemail/stream.js';
import { AuditQuery } from './api-routes.js';
import { FEED_PATH, NowQuery, PracticeQuery, ProviderCreateBody, ProviderPatchBody, ShiftsQuery } from './oncall-routes.js';
import { PracticeNumberBody, PracticePatchSchema } from './practice-routes.js';
import { SmsStatusParams } from '../drops/sms-status.js';
import { CampaignInputSchema, DropsQuery, PhoneBody, RecipientsBody, TemplateCheckInput, TemplateInput } from './drops-routes.js';
import { PatientInput, PatientListQuery, PatientPatch, PatientSearch } from '../patients/records.js';
import { AppointmentInput, AppointmentListQuery, AppointmentPatch, APPOINTMENT_STATUSES } from '../patients/appointments.js';
import { AppointmentIdParams, LookupBody, MergeBody, PatientIdParams } from './patient-routes.js';
import { ImportIdParams, ImportQuery, IMPORT_MAX_BYTES } from './import-routes.js';
import { IMPORT_FAILURES, ImportEntriesQuery, ImportListQuery, type ImportFailure } from '../patients/import-store.js';
import { AckBody, ListQuery as VoicemailListQuery } from './voicemail-routes.js';
import { ATTEMPT_OUTCOMES, AttemptBody, CallBody, CloseBody, TASK_STATUSES, TaskListQuery } from './task-routes.js';
import { REASONS } from '../calls/flow-types.js';
import { ClearLockoutResponse, LockoutIdParams, LockoutListQuery, LockoutListResponse } from './lockout-routes.js';
import { ApiKeyListResponseSchema, ApiKeyPathParamsSchema, ApiKeyRevokeResponseSchema } from './key-routes.js';
import { ConnectedLineSchema, ConnectLineBody, PracticeSummarySchema } from './platform-routes.js';
import { PracticeCreateSchema } from '../practices/onboarding.js';
import { ContactBody, FlowUploadBody, LineFlowBody } from './flow-routes.js';
import { SYNC_PAGE_BUDGET, SYNC_PAGE_SIZE } from '../fhir/sync.js';
import { FhirImportQuery, FhirRunsQuery, FhirSourceBody, MAX_NDJSON_BYTES } from './fhir-routes.js';
import { CALL_OUTCOMES, CallListQuery } from './call-routes.js';
import { OvernightQuery } from './report-routes.js';
import { AuditVerifyQuery } from './audit-routes.js';
import { DEFAULT_MATRIX, MatrixSchema } from '../outreach/matrix.js';
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
const PatientParams = z.object({ patientId: uuid('the patient') });
const CampaignParams = z.object({ campaignId: uuid('the campaign') });
const CampaignCommandParams = CampaignParams.extend({ command: z.enum(CAMPAIGN_COMMANDS as [string, ...string[]]) });
const CallParams = z.object({ callSid: CallSidSchema.meta({ description: 'CA followed by 32 hex characters' }) });
/** `GET /api/pages?status=`: anything but open/acknowledged lists every page. */
const CommunicationMatrixAnswer = z
  .object({ version: z.number().int(), isDefault: z.boolean(), updatedAt: Instant.nullable(), updatedBy: z.string().nullable(), matrix: MatrixSchema })
  .meta({ id: 'CommunicationMatrix' });
const PagesQuery = z.object({ status: z.enum(['open', 'acknowledged']).optional() });

const PatientSummarySchema = z.looseObject({ id: z.uuid(), firstName: z.string().nullable(), lastName: z.string().nullable(), dateOfBirth: z.string(), mrn: z.string().nullable(), active: z.boolean(), mergedInto: z.uuid().nullable() });
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
    urgentClaimed: z.array(z.object({ taskId: z.uuid(), assignee: z.string(), name: z.string().nullable().meta({ description: "the staff member's display name; null for a key" }), claimedAt: Instant })),
  }),
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
  { method: 'post', path: '/api/auth/login', summary: 'Sign in with e-mail and password (the first factor)', description: 'Sets the session cookie (password stage). The same 401 for an unknown e-mail, a wrong password or a disabled account. Limited per source and per account (429).', access: { kind: 'public' }, body: { schema: LoginBody, example: { email: 'dana@example.org', password: 'a long passphrase of yours' } }, ok: { status: 200, description: 'the second factor is next', schema: Csrf.extend({ next: z.enum(['totp', 'enrol_totp']) }) }, also: { 401: 'wrong e-mail or password', 429: 'too many attempts' } },
  { method: 'post', path: '/api/auth/totp/enrol', summary: 'Start TOTP enrolment (password stage)', description: 'The secret and its otpauth:// URI, shown once.', access: { kind: 'session', stage: 'pending' }, body: Empty, ok: { status: 200, description: 'the secret', schema: z.object({ secret: z.string(), uri: z.string() }) }, also: { 409: 'already enrolled or signed in' } },
  { method: 'post', path: '/api/auth/totp/confirm', summary: 'Confirm TOTP with a first code: the session becomes full', access: { kind: 'session', stage: 'pending' }, body: { schema: TotpConfirmBody, example: { code: '123456' } }, ok: { status: 200, description: 'signed in; ten recovery codes, shown once', schema: Done.extend({ recoveryCodes: z.array(z.string()) }) }, also: { 409: 'not enrolling' } },
  { method: 'post', path: '/api/auth/totp', summary: 'The second factor: a TOTP code or a recovery code', access: { kind: 'session', stage: 'pending' }, body: { schema: SecondFactorBody, example: { code: '123456' } }, ok: { status: 200, description: 'signed in (a new session id)', schema: Done }, also: { 409: 'already signed in', 429: 'too many attempts' } },
  { method: 'post', path: '/api/auth/logout', summary: 'Sign out (this session)', access: { kind: 'session', stage: 'pending' }, body: Empty, ok: { status: 204, description: 'signed out' } },
  { method: 'post', path: '/api/auth/logout-everywhere', summary: 'Sign out every session of the signed-in person', access: api(ANY), body: Empty, ok: { status: 200, description: 'how many sessions ended', schema: z.object({ sessionsEnded: z.number().int() }) } },
  { method: 'post', path: '/api/auth/invitations/inspect', summary: "What an invitation's accept page may know: the practice's name, and whether single sign-on is open to the invited person", description: 'Never the e-mail, the role or whether the e-mail has an account. ssoPractice is the slug to start the single sign-on with (/api/auth/oidc/start?practice=…), null when sso is false. Limited per source, as accepting is.', access: { kind: 'public' }, body: { schema: InspectInvitationBody, example: { token: 'the token from the link' } }, ok: { status: 200, description: 'the invitation can be accepted', schema: z.object({ practiceName: z.string(), sso: z.boolean(), ssoPractice: z.string().nullable() }) }, also: { 404: 'the invitation is unknown, spent or expired' } },
  { method: 'post', path: '/api/auth/invitations/accept', summary: 'Accept an invitation: a new account, or, signed in as its person, a new practice for an existing one', description: "An e-mail that has an account already is accepted only with that person's full session (cookie and X-CSRF-Token); no password of an existing account is checked here. Without that session: 409 sign_in_to_accept. A new account may leave out the password when the practice's single sign-on is open to the invited e-mail (inspect says sso: true): it then has none until a password reset sets one, and signs in through single sign-on.", access: { kind: 'public' }, body: { schema: AcceptInvitationBody, example: { token: 'the token from the link', password: 'a long passphrase of yours', displayName: 'Dana Reyes' } }, ok: { status: 201, description: 'the account made', schema: z.object({ userId: z.uuid(), practiceId: z.uuid(), created: z.boolean() }) }, also: { 200: { description: 'an existing account (signed in) joined the practice', same: 'ok' }, 409: 'sign_in_to_accept: sign in as the invited person, then accept' } },
  { method: 'post', path: '/api/auth/password-reset', summary: 'Ask for a password reset link by e-mail', description: 'Always 202, whatever the e-mail: no account is revealed. Without SMTP no e-mail is sent; an admin issues a link instead.', access: { kind: 'public' }, body: { schema: PasswordResetBody, example: { email: 'dana@example.org' } }, ok: { status: 202, description: 'accepted', schema: z.object({ status: z.literal('accepted') }) } },
  { method: 'post', path: '/api/auth/password-reset/complete', summary: 'Set a new password with a reset link (every session ends)', access: { kind: 'public' }, body: { schema: PasswordResetCompleteBody, example: { token: 'the token from the link', password: 'a new long passphrase' } }, ok: { status: 204, description: 'password changed' } },
  { method: 'get', path: '/api/session', summary: 'The signed-in person: memberships, active practice, CSRF token, deadlines', access: api(ANY), ok: { status: 200, description: 'the session', schema: z.object({ user: z.object({ id: z.uuid(), email: z.string(), displayName: z.string() }), memberships: z.array(z.object({ practiceId: z.uuid(), practiceName: z.string(), role: z.enum(API_ROLES) })), activePracticeId: z.uuid(), role: z.enum(API_ROLES), csrfToken: z.string(), idleDeadline: Instant, idleMsLeft: z.number().int().meta({ description: 'milliseconds until the idle logoff, by the service clock (a page times its warning from this, not from its own clock)' }), absoluteDeadline: Instant }) }, also: { 403: { description: 'an API key has no session', same: 'error' } } },
  { method: 'put', path: '/api/me/phone', summary: 'Set (or, with null, clear) your own phone: where a call back through the practice line rings you (stored encrypted, never shown back)', access: api(['admin', 'staff', 'provider']), body: { schema: MyPhoneBody, example: { phone: '+12025550142' } }, ok: { status: 200, description: 'whether a phone is set', schema: z.object({ hasPhone: z.boolean() }) }, also: { 403: 'an API key has no account' } },
  { method: 'post', path: '/api/session/practice', summary: "Switch the session's active practice (a new session id)", access: api(ANY), body: { schema: SwitchPracticeBody, example: { practiceId: '3e0a6f4b-5c7d-4e9f-8a1b-4d5e6f708192' } }, ok: { status: 200, description: 'switched', schema: Csrf.extend({ activePracticeId: z.uuid(), role: z.enum(API_ROLES) }) } },
  { method: 'get', path: '/api/users', summary: "The practice's people and its pending invitations", access: api(ADMIN), ok: { status: 200, description: 'members and pending invitations', schema: z.object({ users: z.array(MemberSchema), invitations: z.array(PendingInvitationSchema) }) } },
  { method: 'get', path: '/api/users/invitations', summary: "The practice's pending invitations (not accepted, expired or revoked)", access: api(ADMIN), ok: { status: 200, description: 'pending invitations, newest first', schema: z.object({ invitations: z.array(PendingInvitationSchema) }) } },
  { method: 'post', path: '/api/users/invitations', summary: 'Invite a person (a one-time link, e-mailed when SMTP is configured, else shown once); earlier pending invitations of the e-mail here end', access: api(ADMIN), body: { schema: InvitationBody, example: { email: 'dana@example.org', role: 'staff' } }, ok: { status: 201, description: 'the invitation (link only when not e-mailed)', schema: z.object({ invitationId: z.uuid(), link: z.string().optional(), expiresAt: Instant, emailed: z.boolean() }) } },
  { method: 'post', path: '/api/users/invitations/:id/revoke', summary: 'Revoke a pending invitation (its link stops working)', access: api(ADMIN), params: InvitationIdParams, body: Empty, ok: { status: 200, description: 'revoked', schema: z.object({ invitationId: z.uuid(), status: z.literal('revoked') }) } },
  { method: 'patch', path: '/api/users/:id/membership', summary: "Change a person's role in the practice (their sessions for it end)", access: api(ADMIN), params: UserIdParams, body: { schema: MembershipPatchBody, example: { role: 'auditor' } }, ok: { status: 200, description: 'the member', schema: z.object({ user: MemberSchema }) }, also: { 409: 'last_admin: the practice would have no active admin' } },
  { method: 'post', path: '/api/users/:id/disable', summary: "Disable a person's membership of the practice (their sessions for it and its pending invitations for them end; the account stays)", access: api(ADMIN), params: UserIdParams, body: Empty, ok: { status: 200, description: 'the member', schema: z.object({ user: MemberSchema, sessionsEnded: z.number().int() }) }, also: { 409: 'last_admin: the practice would have no active admin' } },
  { method: 'post', path: '/api/users/:id/reset-link', summary: 'A one-time password reset link for a person of this practice only', access: api(ADMIN), params: UserIdParams, body: Empty, ok: { status: 201, description: 'the link, shown once', schema: z.object({ link: z.string(), expiresInSeconds: z.number().int() }) }, also: { 409: 'the person belongs to other practices too' } },
  // Single sign-on (OpenID Connect, src/auth/oidc.ts): a browser's navigations, then the admin's configuration.
  { method: 'get', path: '/api/auth/oidc/start', summary: "Single sign-on: to the practice's OpenID provider", description: 'A browser navigation. Redirects (303) to the provider with PKCE (S256), state and nonce kept server-side for 10 minutes, and sets `__Host-ahl_oidc` (HttpOnly, SameSite=Lax) to bind the callback to this browser. A practice with no enabled single sign-on, or a provider that cannot be discovered: 303 to `/console/sign-in?sso=unavailable`.', access: { kind: 'public' }, query: OidcStartQuery, ok: { status: 303, description: "to the provider's authorization endpoint (Location)" }, also: { 429: 'too many attempts' } },
  { method: 'get', path: '/api/auth/oidc/callback', summary: "Single sign-on: the provider's redirect back", description: "Each state is used once. The code is exchanged and the ID token checked (signature, issuer, audience, expiry, nonce); the e-mail must be verified, in one of the practice's domains, and belong to an active member of the practice (no account is created). 303 to `/console/` (signed in), `/console/sign-in?sso=totp` or `?sso=enrol_totp` (the practice does not attest its provider's MFA: the second factor is next, GET /api/auth/pending), or `/console/sign-in?sso=failed` (audited with a reason code).", access: { kind: 'public' }, query: OidcCallbackQuery, ok: { status: 303, description: 'to the console (Location); sets the session cookie when signed in' }, also: { 429: 'too many attempts' } },
  { method: 'get', path: '/api/auth/pending', summary: "A sign-in under way: its next step and the session's CSRF token", description: 'For the console after a single sign-on that asks for TOTP (the password sign-in answers the same in its own response).', access: { kind: 'session', stage: 'pending' }, ok: { status: 200, description: 'the next step', schema: Csrf.extend({ next: z.enum(['totp', 'enrol_totp']), method: z.string() }) } },
  { method: 'put', path: '/api/practices/:practiceId/sso', summary: "The practice's single sign-on (OpenID Connect provider)", description: 'The issuer must be https (http only to a loopback address, outside production); the client secret is stored encrypted and never returned. Redirect URI to register at the provider: `<PUBLIC_BASE_URL>/api/auth/oidc/callback`.', access: api(ADMIN), params: SsoParams, body: { schema: SsoBody, example: { issuer: 'https://login.example.org', clientId: 'after-hours-line', clientSecret: 'the-secret-the-provider-issued', allowedDomains: ['riverside-peds.example'], ssoSatisfiesMfa: false, enabled: true } }, ok: { status: 200, description: 'replaced', schema: SsoView }, also: { 201: { description: 'created', same: 'ok' } } },
  { method: 'get', path: '/api/practices/:practiceId/sso', summary: "The practice's single sign-on (never the secret)", access: api(['admin', 'auditor']), params: SsoParams, ok: { status: 200, description: 'the configuration', schema: SsoView }, also: { 404: 'none yet' } },
  { method: 'delete', path: '/api/practices/:practiceId/sso', summary: "Remove the practice's single sign-on", access: api(ADMIN), params: SsoParams, ok: { status: 204, description: 'removed' } },
];

const FHIR_ROUTES: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/api/fhir/import',
    summary: 'Import a FHIR Bulk Data NDJSON file (Patient.ndjson or Appointment.ndjson)',
    description: `The body is the file itself, streamed (at most ${MAX_NDJSON_BYTES} bytes). Patients first: an Appointment names its patient by the Patient resource imported before (or by MRN). A line that is not a resource of the named type refuses the whole file (400 naming the line; nothing imported); a resource that cannot be mapped is reported by line and field and the others are imported. \`dryRun=true\` reports without writing.`,
    access: api(ADMIN),
    query: FhirImportQuery,
    body: {
      schema: z.string().meta({ description: 'one FHIR R4 resource (JSON) per line' }),
      example: '{"resourceType":"Patient","id":"example","identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"birthDate":"1974-12-25"}\n',
      contentType: 'application/x-ndjson',
      alternatives: { 'application/fhir+ndjson': z.string() },
    },
    ok: { status: 200, description: 'the report (counts; invalid, duplicate and skipped resources by line and field)', schema: FhirImportReportSchema },
    also: { 413: 'the body is too large (nothing imported)' },
  },
  { method: 'put', path: '/api/fhir/source', summary: "The practice's FHIR server (SMART Backend Services) and its sync schedule", access: api(ADMIN), body: { schema: FhirSourceBody, example: fhirSourceExample }, ok: { status: 200, description: 'replaced', schema: FhirSourceSchema }, also: { 201: { description: 'created', same: 'ok' } } },
  { method: 'get', path: '/api/fhir/source', summary: "The practice's FHIR server connection (never the key)", access: api(['admin', 'auditor']), ok: { status: 200, description: 'the source', schema: FhirSourceSchema }, also: { 404: 'no FHIR source yet' } },
  {
    method: 'post',
    path: '/api/fhir/sync',
    summary: 'Sync from the FHIR server now (Patients, then Appointments, updated since the last run)',
    description: `Each type is searched \`_lastUpdated=ge<cursor>\` sorted by lastUpdated. A run fetches at most its page budget (${SYNC_PAGE_BUDGET} pages of ${SYNC_PAGE_SIZE}): past it, it commits what it fetched, keeps where it stopped, answers \`complete: false\`, and the next run (queued within a minute) goes on from there.`,
    access: api(ADMIN),
    ok: { status: 200, description: 'counts per resource type', schema: FhirSyncSchema },
    also: { 404: 'no FHIR source yet (PUT /api/fhir/source)', 409: 'a sync of this practice is running', 502: 'the server or its token endpoint refused or failed, or is at a refused address (reason code and message; nothing imported)' },
  },
  {
    method: 'get',
    path: '/api/fhir/runs',
    summary: 'The latest import runs, server syncs and NDJSON files alike (status and counts), newest first',
    access: api(['admin', 'auditor']),
    query: FhirRunsQuery,
    ok: { status: 200, description: 'the runs', schema: z.object({ runs: z.array(FhirRunSchema) }) },
  },
];

// ---------------------------------------------------------------------------
// The routes
// ---------------------------------------------------------------------------

export const ROUTES: readonly RouteDoc[] = [
  // --- Service --------------------------------------------------------------
  { method: 'get', path: '/healthz', summary: 'Liveness: the process is up', access: { kind: 'public' }, ok: { status: 200, description: 'up', schema: z.object({ status: z.literal('ok') }) } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: PostgreSQL, Redis and storage reachable',
    access: { kind: 'public' },
    ok: { status: 200, description: 'ready', schema: z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.string()) }) },
    also: { 503: { description: 'not ready: the failing check is named', same: 'ok' } },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus scrape (no PHI in any label)',
    access: { kind: 'metricsToken' },
    ok: { status: 200, description: 'Prometheus text exposition', schema: z.string(), contentType: 'text/plain' },
    also: { 401: 'no valid METRICS_TOKEN' },
  },
  { method: 'get', path: OPENAPI_PATH, summary: 'This document (OpenAPI 3.1)', description: 'No API key needed: it documents routes, not data.', access: { kind: 'public' }, ok: { status: 200, description: 'the OpenAPI document', schema: Obj('OpenAPI 3.1 document') } },

  // --- Twilio webhooks --------------------------------------------------------
  { method: 'post', path: '/twilio/voice/incoming', summary: "A call arrives (the number's voice URL)", access: TWILIO, body: voiceBody(), ok: twiml() },
  { method: 'post', path: '/twilio/voice/flow', summary: "The call flow's <Gather>, <Dial> and <Record> actions", access: TWILIO, query: z.object({ s: twilioQuery.step, n: twilioQuery.node, empty: z.literal('1').optional().meta({ description: 'set when the <Gather> got no input' }) }), body: voiceBody({ CallStatus: 'in-progress', Digits: '1' }), ok: twiml() },
  { method: 'post', path: '/twilio/voice/whisper', summary: "The provider's leg before it is bridged (the whisper)", access: TWILIO, query: WhisperQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', ParentCallSid: EX.callSid }), ok: twiml('TwiML for the provider leg (a failure hangs that leg up)') },
  { method: 'post', path: '/twilio/voice/whisper-answer', summary: "The provider's keypress on the whisper", access: TWILIO, query: WhisperQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', Digits: '1' }), ok: twiml('TwiML for the provider leg (a failure hangs that leg up)') },
  { method: 'post', path: '/twilio/callback/answer', summary: 'A call back: the person calling back answered their phone (which practice, press 1; nothing of the patient)', access: TWILIO, query: CallBackQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api' }), ok: twiml('TwiML for their leg (a failure hangs it up)') },
  { method: 'post', path: '/twilio/callback/connect', summary: "A call back: their key; 1 dials the patient with the practice's number as caller ID", access: TWILIO, query: CallBackQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', Digits: '1' }), ok: twiml('TwiML: the <Dial> to the patient, or goodbye') },
  { method: 'post', path: '/twilio/callback/dialed', summary: "A call back: the <Dial> to the patient ended; its outcome becomes the task's attempt", access: TWILIO, query: CallBackQuery, body: voiceBody({ CallStatus: 'in-progress', Direction: 'outbound-api', DialCallStatus: 'completed' }), ok: twiml('TwiML: goodbye, or the access line menu') },
  { method: 'post', path: '/twilio/callback/status', summary: "A call back: either leg's status callback (call records, timeline; their leg ending undialled settles it as not connected)", access: TWILIO, query: CallBackQuery, body: voiceBody({ CallStatus: 'completed', Direction: 'outbound-api' }), ok: twiml('an empty TwiML document') },
  { method: 'post', path: '/twilio/voice/access', summary: 'The provider access line: a call arrives', access: TWILIO, body: voiceBody(), ok: twiml() },
  { method: 'post', path: '/twilio/voice/access-action', summary: "The access line's <Gather> actions", access: TWILIO, query: z.object({ s: twilioQuery.step }), body: voiceBody({ CallStatus: 'in-progress', Digits: '1234#' }), ok: twiml() },
  {
    method: 'post',
    path: '/twilio/sms/incoming',
    summary: "The practice number's messaging webhook: a patient's text (stored, then the automatic reply), STOP, START, HELP, a provider's ACK",
    access: TWILIO,
    body: { schema: SmsSchema, example: { MessageSid: `SM${'0123456789abcdef'.repeat(2)}`, AccountSid: EX.accountSid, From: EX.callerNumber, To: EX.practiceNumber, Body: 'Please call me back', NumMedia: '0' }, contentType: 'application/x-www-form-urlencoded' },
    ok: twiml('TwiML (<Response/> or a <Message>); 503 when the text could not be stored (Twilio then requests the SMS fallback URL)'),
  },
  {
    method: 'post',
    path: '/twilio/sms/fallback',
    summary: "The practice number's SMS fallback URL: stores the text if it can now, else tells the patient it was not received",
    access: TWILIO,
    body: { schema: SmsSchema, example: { MessageSid: `SM${'0123456789abcdef'.repeat(2)}`, AccountSid: EX.accountSid, From: EX.callerNumber, To: EX.practiceNumber, Body: 'Please call me back', NumMedia: '0' }, contentType: 'application/x-www-form-urlencoded' },
    ok: twiml('TwiML: the automatic reply once stored, else "we could not receive your message" with 911 and the number to call'),
  },
  {
    method: 'post',
    path: '/twilio/voice/fail-safe-dial',
    summary: "The fail-safe <Dial>'s action: speaks only when the fallback line was not reached",
    access: TWILIO,
    body: voiceBody({ CallStatus: 'in-progress', DialCallStatus: 'no-answer' }),
    ok: twiml('TwiML: a hang-up after a connected call; the disclaimer and "we could not connect your call" otherwise'),
  },
  { method: 'post', path: '/twilio/voice/status', summary: 'Call status callbacks', access: TWILIO, body: voiceBody({ CallStatus: 'completed', CallDuration: '42', SequenceNumber: '0' }), ok: twiml('an empty <Response/>') },
  {
    method: 'post',
    path: '/twilio/voice/recording-status',
    summary: 'Recording status callbacks (voicemails)',
    access: TWILIO,
    query: z.object({ n: twilioQuery.node.optional(), u: z.enum(['urgent', 'routine']).optional(), v: z.literal('1').optional().meta({ description: 'the caller was verified' }) }),
    body: voiceBody({ CallStatus: 'completed', RecordingSid: `RE${'0123456789abcdef'.repeat(2)}`, RecordingStatus: 'completed', RecordingDuration: '17', RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${EX.accountSid}/Recordings/RE${'0123456789abcdef'.repeat(2)}` }),
    ok: twiml('an empty <Response/>'),
  },
  {
    method: 'post',
    path: '/twilio/sms/status',
    summary: "A patient SMS's delivery status (queued, sent, delivered, undelivered, failed with the carrier's ErrorCode): moves its ledger row forward only",
    access: TWILIO,
    body: {
      schema: SmsStatusParams,
      example: { MessageSid: `SM${'0123456789abcdef'.repeat(2)}`, MessageStatus: 'undelivered', ErrorCode: '30003' },
      contentType: 'application/x-www-form-urlencoded',
    },
    ok: twiml('an empty <Response/>, once the status is stored (503 when it could not be; 400 when malformed)'),
  },
  {
    method: 'post',
    path: '/twilio/rvm/answer',
    summary: "A Twilio voicemail drop's TwiML once the greeting ended",
    access: TWILIO,
    query: z.object({ d: twilioQuery.drop }),
    body: { schema: AnswerParams, example: { CallSid: EX.callSid, AnsweredBy: 'machine_end_beep' }, contentType: 'application/x-www-form-urlencoded' },
    ok: twiml('the drop message, or a hang-up'),
  },
  {
    method: 'post',
    path: '/twilio/rvm/status',
    summary: "A Twilio voicemail drop's call status",
    access: TWILIO,
    query: z.object({ d: twilioQuery.drop }),
    body: { schema: StatusParams, example: { CallSid: EX.callSid, CallStatus: 'completed' }, contentType: 'application/x-www-form-urlencoded' },
    ok: twiml('an empty <Response/>'),
  },
  {
    method: 'post',
    path: '/twilio/voice/fallback',
    summary: "Twilio's fallback URL: the disclaimer and the practice's fallback number",
    access: TWILIO,
    body: { schema: FallbackBody, example: { CallSid: EX.callSid, To: EX.practiceNumber, ErrorCode: '11200', ErrorUrl: 'https://ahl.example.com/twilio/voice/incoming' }, contentType: 'application/x-www-form-urlencoded' },
    ok: twiml(),
  },

  // --- Other unauthenticated edges ---------------------------------------------
  {
    method: 'post',
    path: '/rvm/webhook',
    summary: "The ringless-voicemail vendor's drop status",
    description: `The vendor signs the raw body with RVM_WEBHOOK_SECRET (${RVM_SIGNATURE_HEADER}).`,
    access: { kind: 'rvmVendor' },
    body: { schema: RvmWebhookSchema, example: { id: 'vendor-drop-81723', foreign_id: EX.dropId, status: 'delivered' } },
    ok: { status: 200, description: 'recorded (or already final)', schema: z.object({ result: z.enum(['recorded', 'already_final']) }) },
    also: { 400: 'not a drop status', 401: 'missing or wrong signature', 404: 'no such drop', 503: 'no vendor configured' },
  },
  {
    method: 'get',
    path: FEED_PATH,
    summary: "A provider's on-call shifts as an iCalendar feed (for calendar apps)",
    description: 'No API key: the feed token (POST /api/oncall/providers/{id}/feed-token) is the credential.',
    access: { kind: 'urlToken' },
    query: z.object({ token: z.string().regex(FEED_TOKEN_PATTERN).meta({ description: 'the feed token' }) }),
    ok: { status: 200, description: 'the next 60 days of shifts', schema: z.string(), contentType: 'text/calendar' },
    also: { 404: 'unknown or revoked token' },
  },
  {
    method: 'get',
    path: '/playback/:token',
    summary: 'A single-use voicemail link (<Play> on the access line)',
    description: 'No API key: the single-use token (POST /api/voicemails/{id}/playback-link, valid 5 minutes) is the credential. Range requests are answered 206.',
    access: { kind: 'urlToken' },
    params: z.object({ token: z.string().regex(PLAYBACK_TOKEN_PATTERN).meta({ description: 'the playback token' }) }),
    ok: { status: 200, description: 'the audio', schema: z.string().meta({ format: 'binary' }), contentType: AUDIO_CONTENT_TYPE },
    also: { 206: 'part of the audio (Range)', 404: 'unknown, used or expired token', 416: 'range not satisfiable' },
  },

  // --- /api: keys, practices, flows ----------------------------------------------
  {
    method: 'get',
    path: '/api/whoami',
    summary: 'The calling key (or signed-in person)',
    access: api([...ANY, OPERATOR_ROLE]),
    ok: { status: 200, description: "the key's id, role and practice (null for the operator); for a session, keyId null and the person's userId", schema: z.object({ keyId: z.uuid().nullable(), userId: z.uuid().optional(), role: z.enum([...API_ROLES, OPERATOR_ROLE]), practiceId: z.uuid().nullable() }) },
  },

  // --- the platform: practices moving in (src/http/platform-routes.ts) ------------------
  { method: 'get', path: '/api/practices', summary: 'Every practice, active or suspended', access: api(OPERATOR), ok: { status: 200, description: 'the practices (no patient data)', schema: z.object({ practices: z.array(PracticeSummarySchema) }) } },
  {
    method: 'post',
    path: '/api/practices',
    summary: 'Create a practice with default hours, languages and retention',
    description: 'Its first number, when given, is a main line running the after-hours flow; connect it at Twilio with the lines route.',
    access: api(OPERATOR),
    body: { schema: PracticeCreateSchema, example: { slug: 'riverside-peds', name: 'Riverside Pediatrics', timeZone: 'America/Chicago', number: '+12025550150', fallbackNumber: '+12025550151' } },
    ok: { status: 201, description: 'the practice', schema: PracticeSchema.omit({ numbers: true }) },
    also: { 409: 'the slug or the number belongs to another practice' },
  },
  {
    method: 'post',
    path: '/api/practices/:practiceId/suspend',
    summary: "Suspend a practice: its calls get the fail-safe answer (disclaimer, fallback line), its keys 403",
    access: api(OPERATOR),
    params: PracticeIdParams,
    ok: { status: 200, description: 'suspended (change: unchanged when it already was)', schema: z.object({ id: z.uuid(), status: z.literal('suspended'), change: z.enum(['changed', 'unchanged']) }) },
  },
  {
    method: 'post',
    path: '/api/practices/:practiceId/reactivate',
    summary: 'Reactivate a suspended practice',
    access: api(OPERATOR),
    params: PracticeIdParams,
    ok: { status: 200, description: 'active again (change: unchanged when it already was)', schema: z.object({ id: z.uuid(), status: z.literal('active'), change: z.enum(['changed', 'unchanged']) }) },
  },
  {
    method: 'post',
    path: '/api/practices/:practiceId/lines/:e164/connect',
    summary: "Make a number a line (main, access, drop_callback) and configure it at Twilio",
    description: "Sets the number's voice URL, voice fallback URL, status callback and SMS URL from PUBLIC_BASE_URL through Twilio's IncomingPhoneNumbers API, reads them back and lists any difference. The operator may connect any practice's lines, a practice's admin its own. Only a number already registered to the practice is connected, unless the operator assigns it in the same request (`assign: true`, audited as admin.line_assigned); a number of another practice is never moved (409). The work runs in the practice's tenant scope.",
    access: api([OPERATOR_ROLE, 'admin']),
    params: PracticeNumberParams,
    body: { schema: ConnectLineBody, example: { kind: 'main', flowId: 'after-hours' } },
    ok: { status: 200, description: 'connected (201: the number is new to the practice)', schema: ConnectedLineSchema },
    also: { 201: 'connected, the number assigned to the practice by this request', 409: 'the number is not registered to the practice (and no assign), belongs to another practice, or the Twilio account has no such number', 502: 'Twilio refused or failed', 503: 'no Twilio account configured' },
  },
  { method: 'get', path: '/api/flows', summary: 'The call flows a number can run', access: api(ANY), ok: { status: 200, description: 'the loaded flows', schema: z.object({ flows: z.array(z.object({ id: z.string(), description: z.string() })) }) } },
  { method: 'get', path: '/api/practices/:practiceId', summary: 'Practice settings and numbers', access: api(ANY), params: PracticeIdParams, ok: { status: 200, description: 'the practice', schema: PracticeSchema } },
  {
    method: 'patch',
    path: '/api/practices/:practiceId',
    summary: 'Change practice settings',
    access: api(ADMIN),
    params: PracticeIdParams,
    body: { schema: PracticePatchSchema, example: { greetingName: 'Riverside Family Medicine', weeklyHours: { mon: [{ open: '08:00', close: '17:00' }], fri: [{ open: '08:00', close: '12:00' }] }, holidays: { dates: ['2026-12-24'], named: ['thanksgiving'] } } },
    ok: { status: 200, description: 'the practice as changed', schema: PracticeSchema },
  },
  {
    method: 'get',
    path: '/api/practices/:practiceId/communication-matrix',
    summary: 'The communication matrix: per message type and channel, allowed or not and the most detail (none, logistics)',
    description: 'version 0 and isDefault: the practice uses the defaults (src/outreach/matrix.ts says the rule of each).',
    access: api(RVM_READ),
    params: PracticeIdParams,
    ok: { status: 200, description: 'the current version', schema: CommunicationMatrixAnswer },
  },
  {
    method: 'put',
    path: '/api/practices/:practiceId/communication-matrix',
    summary: 'Replace the communication matrix (a new version, audited); every type and channel, staff_page × sms and × voice stay allowed',
    access: api(ADMIN),
    params: PracticeIdParams,
    body: { schema: MatrixSchema, example: DEFAULT_MATRIX },
    ok: { status: 200, description: 'the new current version', schema: CommunicationMatrixAnswer },
  },
  {
    method: 'put',
    path: '/api/practices/:practiceId/numbers/:e164',
    summary: 'Add a number, or change the flow it runs',
    access: api(ADMIN),
    params: PracticeNumberParams,
    body: { schema: PracticeNumberBody, example: { flowId: 'after-hours' } },
    ok: { status: 200, description: 'changed (201: added)', schema: z.object({ e164: E164Schema, flowId: z.string() }) },
    also: { 201: 'added', 409: 'the number belongs to another practice' },
  },
  { method: 'delete', path: '/api/practices/:practiceId/numbers/:e164', summary: 'Remove a number', access: api(ADMIN), params: PracticeNumberParams, ok: { status: 204, description: 'removed' } },

  // --- /api: a practice's own phone trees and contacts ---------------------------------
  { method: 'get', path: '/api/flows/:flowId/source', summary: "A built-in flow's YAML, to copy as a practice's own", access: api(ANY), params: FlowIdParams, ok: { status: 200, description: 'the flow file', schema: z.string(), contentType: 'text/yaml' } },
  {
    method: 'get',
    path: '/api/practices/:practiceId/flows',
    summary: "The built-in flows, the practice's own flows with their versions, and what each line runs",
    access: api(ANY),
    params: PracticeIdParams,
    ok: { status: 200, description: 'flows and lines', schema: z.object({ builtIn: z.array(z.object({ flowId: z.string(), description: z.string() })), own: z.array(z.object({ flowId: z.string(), versions: z.array(FlowVersionSummarySchema) })), lines: z.array(LineFlowSchema) }) },
  },
  {
    method: 'post',
    path: '/api/practices/:practiceId/flows',
    summary: "Upload a flow (YAML or JSON) as the next version of the practice's flow of that id",
    description: 'Checked exactly as the built-in flows are (schema, graph rules, the disclosure rule, audio files). A refused flow answers 400 `invalid_flow` with every problem: `file` (always `upload`), `node` when the problem is in one node, `message`. Uploading does not change what any line runs: activate a version with PUT …/lines/{e164}/flow.',
    access: api(ADMIN),
    params: PracticeIdParams,
    body: { schema: FlowUploadBody, example: { format: 'yaml', source: 'id: riverside\ndescription: Riverside after hours\nstart: greeting\nnodes: …' } },
    ok: { status: 201, description: 'stored as a new version', schema: z.object({ flowId: z.string(), version: z.number().int(), description: z.string(), createdAt: Instant }) },
    also: { 400: { description: 'invalid body, or `invalid_flow` with `problems: [{ file, node?, message }]`', same: 'error' } },
  },
  {
    method: 'get',
    path: '/api/practices/:practiceId/flows/:flowId/versions/:version',
    summary: 'One version of a practice flow, as uploaded',
    access: api(ANY),
    params: PracticeIdParams.extend({ flowId: z.string(), version: z.string().regex(/^[1-9][0-9]*$/) }),
    ok: { status: 200, description: 'the version', schema: FlowVersionSummarySchema.extend({ flowId: z.string(), format: z.enum(['yaml', 'json']), source: z.string() }) },
  },
  {
    method: 'put',
    path: '/api/practices/:practiceId/lines/:e164/flow',
    summary: 'Run a flow on a line: a built-in one (no version) or a version of the practice\'s own',
    access: api(ADMIN),
    params: PracticeNumberParams,
    body: { schema: LineFlowBody, example: { flowId: 'riverside', version: 2 } },
    ok: { status: 200, description: 'what the line runs now', schema: LineFlowSchema },
  },
  {
    method: 'post',
    path: '/api/practices/:practiceId/lines/:e164/flow/rollback',
    summary: 'Run again what the line ran before its latest activation',
    access: api(ADMIN),
    params: PracticeNumberParams,
    ok: { status: 200, description: 'what the line runs now', schema: LineFlowSchema },
    also: { 409: 'the line has no earlier activation' },
  },
  { method: 'get', path: '/api/practices/:practiceId/contacts', summary: "The practice's contacts (transfer targets of its flows)", access: api(ANY), params: PracticeIdParams, ok: { status: 200, description: 'the contacts', schema: z.object({ contacts: z.array(ContactSchema) }) } },
  {
    method: 'put',
    path: '/api/practices/:practiceId/contacts/:key',
    summary: 'Create or replace a contact',
    access: api(ADMIN),
    params: ContactParams,
    body: { schema: ContactBody, example: { label: 'Nurse line', number: '+12025550142' } },
    ok: { status: 200, description: 'replaced (201: created)', schema: ContactSchema },
    also: { 201: 'created' },
  },
  { method: 'delete', path: '/api/practices/:practiceId/contacts/:key', summary: 'Remove a contact', access: api(ADMIN), params: ContactParams, ok: { status: 204, description: 'removed' } },

  // --- /api/oncall ------------------------------------------------------------------
  { method: 'get', path: '/api/oncall/providers', summary: 'List providers', access: api(ANY), query: PracticeQuery, ok: { status: 200, description: 'the providers', schema: z.object({ providers: z.array(ProviderSchema) }) } },
  {
    method: 'post',
    path: '/api/oncall/providers',
    summary: 'Add a provider (with an optional access-line PIN)',
    description: 'The practice\'s first provider, when the practice has no escalation policy yet, comes with a default one: "Default", ringing that provider (25 s), the chain twice, then pages (admin.policy_changed, change created_default).',
    access: api(ADMIN),
    query: PracticeQuery,
    body: { schema: ProviderCreateBody, example: { displayName: 'Dr. Rivera', phone: '+12025550142', smsPhone: null, pin: '4821' } },
    ok: { status: 201, description: 'the provider (the PIN is never shown)', schema: ProviderSchema },
  },
  { method: 'get', path: '/api/oncall/providers/:id', summary: 'A provider', access: api(ANY), params: IdParams, query: PracticeQuery, ok: { status: 200, description: 'the provider', schema: ProviderSchema } },
  {
    method: 'patch',
    path: '/api/oncall/providers/:id',
    summary: 'Change a provider (pin null clears it)',
    access: api(ADMIN),
    params: IdParams,
    query: PracticeQuery,
    body: { schema: ProviderPatchBody, example: { active: false, pin: null } },
    ok: { status: 200, description: 'the provider as changed', schema: ProviderSchema },
  },
  { method: 'get', path: '/api/oncall/providers/:id/shifts.ics', summary: "A provider's shifts for the next 60 days (iCalendar)", access: api(ANY), params: IdParams, query: PracticeQuery, ok: { status: 200, description: 'the feed', schema: z.string(), contentType: 'text/calendar' } },
  {
    method: 'post',
    path: '/api/oncall/providers/:id/feed-token',
    summary: "Issue a provider's calendar-feed token (replaces any earlier one; shown once)",
    access: api(ADMIN),
    params: IdParams,
    query: PracticeQuery,
    ok: { status: 201, description: 'the token and the feed URL', schema: z.object({ token: z.string(), url: z.string(), issuedAt: Instant }) },
  },
  { method: 'delete', path: '/api/oncall/providers/:id/feed-token', summary: "Revoke a provider's calendar-feed token", access: api(ADMIN), params: IdParams, query: PracticeQuery, ok: { status: 204, description: 'revoked' } },
  { method: 'get', path: '/api/oncall/schedules', summary: 'List schedules', access: api(ANY), query: PracticeQuery, ok: { status: 200, description: 'the schedules', schema: z.object({ schedules: z.array(ScheduleSchema) }) } },
  {
    method: 'post',
    path: '/api/oncall/schedules',
    summary: "Add a schedule (timeZone defaults to the practice's)",
    access: api(ADMIN),
    query: PracticeQuery,
    body: { schema: ScheduleInputSchema, example: { name: 'Weeknights', timeZone: 'America/New_York', rotation: rotationExample } },
    ok: { status: 201, description: 'the schedule', schema: ScheduleSchema },
  },
  { method: 'get', path: '/api/oncall/schedules/:id', summary: 'A schedule with its current and future overrides', access: api(ANY), params: IdParams, query: PracticeQuery, ok: { status: 200, description: 'the schedule with its current and future overrides', schema: ScheduleSchema.extend({ overrides: z.array(Obj('an override')) }) } },
  {
    method: 'patch',
    path: '/api/oncall/schedules/:id',
    summary: 'Change a schedule',
    access: api(ADMIN),
    params: IdParams,
    query: PracticeQuery,
    body: { schema: SchedulePatchSchema, example: { rotation: { members: [EX.providerId], length: 'daily', handoffTime: '19:00', startDate: '2026-12-01' } } },
    ok: { status: 200, description: 'the schedule as changed', schema: ScheduleSchema },
  },
  {
    method: 'post',
    path: '/api/oncall/schedules/:id/overrides',
    summary: 'Add an override (the latest-created wins where overrides overlap)',
    access: api(ADMIN),
    params: IdParams,
    query: PracticeQuery,
    body: { schema: OverrideInputSchema, example: { providerId: EX.providerId2, start: '2026-12-24T17:00:00-05:00', end: '2026-12-26T08:00:00-05:00' } },
    ok: { status: 201, description: 'the override, and what it shadows', schema: z.object({ override: Obj('the override'), resolution: z.object({ rule: z.string(), shadows: z.array(z.uuid()), message: z.string() }).optional() }) },
  },
  { method: 'delete', path: '/api/oncall/schedules/:id/overrides/:overrideId', summary: 'Delete an override', access: api(ADMIN), params: OverrideParams, query: PracticeQuery, ok: { status: 204, description: 'deleted' } },
  { method: 'get', path: '/api/oncall/policies', summary: 'List escalation policies', access: api(ANY), query: PracticeQuery, ok: { status: 200, description: 'the policies', schema: z.object({ policies: z.array(PolicySchema) }) } },
  { method: 'post', path: '/api/oncall/policies', summary: 'Add an escalation policy', access: api(ADMIN), query: PracticeQuery, body: { schema: PolicyInputSchema, example: policyExample }, ok: { status: 201, description: 'the policy', schema: PolicySchema } },
  { method: 'get', path: '/api/oncall/policies/:id', summary: 'An escalation policy', access: api(ANY), params: IdParams, query: PracticeQuery, ok: { status: 200, description: 'the policy', schema: PolicySchema } },
  { method: 'patch', path: '/api/oncall/policies/:id', summary: 'Change an escalation policy', access: api(ADMIN), params: IdParams, query: PracticeQuery, body: { schema: PolicyPatchSchema, example: { pageIntervalMinutes: 5, isDefault: true } }, ok: { status: 200, description: 'the policy as changed', schema: PolicySchema } },
  {
    method: 'get',
    path: '/api/oncall/now',
    summary: 'Who is on call now, per schedule, and the layer that decided it',
    access: api(ANY),
    query: NowQuery,
    also: { 404: 'no such schedule' },
    ok: { status: 200, description: 'who is on call', schema: z.object({ at: Instant, onCall: z.array(z.looseObject({ scheduleId: z.uuid(), name: z.string(), providerId: z.uuid().nullable(), providerName: z.string().nullable(), layer: z.enum(['none', 'rotation', 'override']) })) }) },
  },
  {
    method: 'get',
    path: '/api/oncall/shifts',
    summary: 'The effective shift timeline in [from, to) (at most 62 days)',
    access: api(ANY),
    query: ShiftsQuery,
    also: { 404: 'no such schedule' },
    ok: { status: 200, description: 'the shifts', schema: z.object({ from: Instant, to: Instant, shifts: z.array(z.looseObject({ scheduleId: z.uuid(), providerId: z.uuid(), layer: z.enum(['rotation', 'override']), start: Instant, end: Instant })) }) },
  },

  // --- /api: pages, voicemails, calls, audit --------------------------------------------
  { method: 'get', path: '/api/pages', summary: "The practice's latest 200 pages", access: api(ANY), query: PagesQuery, ok: { status: 200, description: 'the pages', schema: z.object({ pages: z.array(PageSchema) }) } },
  { method: 'post', path: '/api/pages/:pageId/ack', summary: 'Acknowledge a page', access: api(HANDLERS), params: PageParams, ok: { status: 200, description: 'acknowledged (or already)', schema: PageAckSchema } },
  { method: 'get', path: '/api/voicemails', summary: 'Voicemail metadata (no audio, no transcript)', access: api(ANY), query: VoicemailListQuery, ok: { status: 200, description: 'the voicemails', schema: z.object({ voicemails: z.array(VoicemailSummarySchema) }) } },
  { method: 'get', path: '/api/voicemails/dead-letter', summary: 'Voicemails whose processing failed for good', access: api(ADMIN), ok: { status: 200, description: 'the dead-lettered voicemails', schema: z.object({ voicemails: z.array(Obj('a voicemail')) }) } },
  {
    method: 'get',
    path: '/api/voicemails/:id/audio',
    summary: 'The decrypted audio (Range supported; HEAD for the headers)',
    access: api(HANDLERS),
    params: IdParams,
    ok: { status: 200, description: 'the audio', schema: z.string().meta({ format: 'binary' }), contentType: AUDIO_CONTENT_TYPE },
    also: { 206: 'part of the audio (Range)', 409: 'not stored yet', 416: 'range not satisfiable' },
  },
  { method: 'post', path: '/api/voicemails/:id/ack', summary: 'Acknowledge a voicemail (the request\'s actor; an optional note, kept encrypted)', access: api(HANDLERS), params: IdParams, body: { schema: AckBody, example: { note: 'called back, refill sent' } }, ok: { status: 200, description: 'acknowledged (or already)', schema: VoicemailAckSchema } },
  { method: 'post', path: '/api/voicemails/:id/retry', summary: 'Requeue a dead-lettered voicemail', access: api(ADMIN), params: IdParams, ok: { status: 202, description: 'requeued', schema: z.object({ id: z.uuid(), state: z.string() }) }, also: { 409: 'not dead-lettered, or changed meanwhile' } },
  {
    method: 'post',
    path: '/api/voicemails/:id/playback-link',
    summary: 'A single-use playback link, valid 5 minutes',
    access: api(HANDLERS),
    params: IdParams,
    ok: { status: 201, description: 'the link', schema: z.object({ url: z.string(), expiresAt: Instant }) },
    also: { 409: 'not stored yet' },
  },
  {
    method: 'get',
    path: '/api/calls',
    summary: "Every call to the practice on record, newest first: the caller's number (masked for auditors; every read in clear audited), the patient matched, the menu path, the outcome, the duration and the call's voicemails",
    access: api(ANY),
    query: CallListQuery,
    ok: { status: 200, description: 'a page of calls; nextCursor fetches the next (null: no more)', schema: z.object({ calls: z.array(ListedCallSchema), nextCursor: z.string().nullable() }) },
  },
  {
    method: 'get',
    path: '/api/calls/:callSid',
    summary: "A call record with its ordered timeline, legs, pages, audit events and the call log's row",
    description: "Another practice's call answers 404, exactly as a call that never was. Numbers masked for auditors; the caller's number read in clear is audited (call.list_read).",
    access: api(['admin', 'staff', 'auditor']),
    params: CallParams,
    ok: { status: 200, description: 'the call and its timeline', schema: CallViewSchema },
  },
  {
    method: 'get',
    path: '/api/calls/:callSid/export',
    summary: 'One call as a JSON file: the record, timeline, legs, pages, its audit events and the verification of the stretch of the chain they sit in',
    description: 'Content-Disposition: attachment. Audited as call.exported (counts only) before the file is sent. Numbers masked for auditors.',
    access: api(['admin', 'auditor']),
    params: CallParams,
    ok: { status: 200, description: 'the export', schema: CallExportSchema },
  },
  { method: 'get', path: '/api/tasks', summary: 'Callback tasks: overdue first, then by due time', access: api(ANY), query: TaskListQuery, ok: { status: 200, description: 'the tasks (no numbers: read one task for its number)', schema: z.object({ tasks: z.array(TaskSummarySchema) }) } },
  { method: 'get', path: '/api/tasks/:id', summary: 'A callback task with its attempts and the number to call back (masked for auditors)', access: api(ANY), params: IdParams, ok: { status: 200, description: 'the task', schema: TaskDetailSchema } },
  { method: 'post', path: '/api/tasks/:id/claim', summary: 'Claim a callback task (the request\'s actor becomes its assignee)', access: api(HANDLERS), params: IdParams, ok: { status: 200, description: 'claimed', schema: TaskSummarySchema }, also: { 409: TASK_CONFLICT } },
  { method: 'post', path: '/api/tasks/:id/attempts', summary: 'Record a try to reach the patient (an open task becomes the actor\'s)', access: api(HANDLERS), params: IdParams, body: { schema: AttemptBody, example: { outcome: 'no_answer', note: 'rang out' } }, ok: { status: 201, description: 'recorded', schema: TaskSummarySchema }, also: { 409: TASK_CONFLICT } },
  { method: 'post', path: '/api/tasks/:id/close', summary: 'Close a callback task with its outcome', access: api(HANDLERS), params: IdParams, body: { schema: CloseBody, example: { outcome: 'done' } }, ok: { status: 200, description: 'closed', schema: TaskSummarySchema }, also: { 409: TASK_CONFLICT } },
  {
    method: 'get',
    path: '/api/reports/overnight',
    summary: "The morning report: the practice's closed period (previous closing to the opening on `date`, on its own clock) in counts, each with the filter that lists its items",
    description: 'Without `date`, the latest period that has ended. Calls, voicemails, lockouts, failed deliveries and fail-safe answers are those of the period; tasks as they stand now. No patient data.',
    access: api(ANY),
    query: OvernightQuery,
    ok: { status: 200, description: 'the report', schema: OvernightReportSchema },
    also: { 404: 'the practice does not open on that date (or has no closed period in the last month)' },
  },
  {
    method: 'post',
    path: '/api/tasks/:id/call',
    summary: "Call the patient back from the practice's number: Twilio rings your own phone, says which practice and asks for 1, then dials the patient with the practice's number as caller ID",
    description:
      "Rings a provider's provider phone, anyone else's phone on their account (PUT /api/me/phone); never a number from the request, and yours is never shown to the patient. The outcome (reached, no_answer, busy, failed, not_connected) becomes an attempt on the task when the call ends; with no Twilio account configured the call is logged, not placed, and the attempt is recorded as logged at once. An API key has no phone (409 no_phone).",
    access: api(HANDLERS),
    params: IdParams,
    body: { schema: CallBody, example: { to: 'me' } },
    ok: { status: 201, description: 'placed (the outcome follows on the task) or logged', schema: z.object({ callId: z.uuid(), state: z.enum(['placed', 'logged']) }) },
    also: {
      409: 'the task is closed, has no number to call, you have no phone, the practice has no number to call from, or another call back on this task is under way (call_in_progress; one left without an outcome for 30 minutes is settled failed by the task sweep)',
      502: 'Twilio refused the call (recorded as a failed attempt)',
    },
  },
  { method: 'get', path: '/api/audit', summary: "The practice's audit log, searched by time, call, action and actor", access: api(['admin', 'auditor']), query: AuditQuery, ok: { status: 200, description: 'audit events, oldest first (order=newest: newest first)', schema: z.object({ events: z.array(AuditEventSchema) }) } },
  {
    method: 'get',
    path: '/api/audit/verify',
    summary: "Verify the practice's audit chain against the checkpoints, as npm run audit:verify --practice does (bounded)",
    description: 'Walks at most 200,000 rows (then truncated: true). Audited as audit.verified.',
    access: api(['admin', 'auditor']),
    query: AuditVerifyQuery,
    ok: { status: 200, description: "the chain's verdict", schema: ChainVerifySchema },
  },

  // --- /api: patients, consent, opt-outs, BAAs (ringless voicemail) ------------------------
  // --- /api: patients and appointments (patient-routes.ts) ---------------------------------
  { method: 'get', path: '/api/patients', summary: "A page of the practice's patients (active only unless includeInactive=true)", access: api(RVM_WRITE), query: PatientListQuery, ok: { status: 200, description: 'the page, decrypted', schema: z.object({ patients: z.array(PatientSummarySchema), limit: z.number(), offset: z.number() }) } },
  {
    method: 'post',
    path: '/api/patients',
    summary: 'Add a patient (stored encrypted, identifiers blind-indexed)',
    description: 'A patient with the same MRN, or the same name and date of birth, answers 409 with the existing id.',
    access: api(RVM_WRITE),
    body: {
      schema: PatientInput,
      example: { firstName: 'Avery', lastName: 'Quinn', dateOfBirth: '1980-04-12', mrn: 'MRN-1001', phones: [{ number: EX.callerNumber, kind: 'mobile', preferred: true }, { number: '+12025550124', kind: 'home' }], preferredLanguage: 'en', usState: 'FL', timeZone: 'America/New_York' },
    },
    ok: { status: 201, description: "the patient's id", schema: z.object({ id: z.uuid() }) },
    also: { 409: { description: 'a duplicate: the existing id', same: 'error' } },
  },
  { method: 'post', path: '/api/patients/lookup', summary: "The ids of the practice's active patients with a number (in the body, never the URL)", access: api(RVM_WRITE), body: { schema: LookupBody, example: { phone: EX.callerNumber } }, ok: { status: 200, description: 'matching ids', schema: z.object({ patientIds: z.array(z.uuid()) }) } },
  {
    method: 'post',
    path: '/api/patients/search',
    summary: 'Find patients by name, date of birth, phone or MRN (exact match on blind indexes; criteria combine)',
    description: 'A name matches the full name (given and family) or the family name alone, case, accents and spacing aside. Criteria are in the body, never the URL.',
    access: api(RVM_WRITE),
    body: { schema: PatientSearch, example: { name: 'Quinn', dateOfBirth: '1980-04-12' } },
    ok: { status: 200, description: 'the matching page, decrypted', schema: z.object({ patients: z.array(PatientSummarySchema), limit: z.number(), offset: z.number() }) },
  },
  {
    method: 'post',
    path: '/api/patients/import',
    summary: 'Import patients from CSV, upserted by MRN (dry run unless dryRun=false): queued as a job',
    description: `A text/csv body, streamed into storage envelope-encrypted (at most ${IMPORT_MAX_BYTES} bytes); the answer (202) is the import's id at once, and GET /api/imports/{id} follows it to its report. Columns: mrn and date_of_birth (required), first_name, last_name, phone, home_phone, preferred_phone (mobile or home), preferred_language, us_state, time_zone. One transaction: with any invalid row nothing is written, and the import's message names the first row and field. Row numbers count the header as row 1.`,
    access: api(ADMIN),
    query: ImportQuery,
    body: { schema: z.string(), example: 'mrn,first_name,last_name,date_of_birth,phone\nMRN-1001,Avery,Quinn,1980-04-12,+12025550123\n', contentType: 'text/csv' },
    ok: { status: 202, description: "queued: the import's id (Location: /api/imports/{id})", schema: ImportAcceptedSchema },
    also: { 413: 'the body is too large (nothing kept)', 503: 'the job could not be queued (nothing imported; try again)' },
  },
  { method: 'get', path: '/api/patients/:patientId', summary: 'A patient, decrypted, with every number', access: api(RVM_WRITE), params: PatientIdParams, ok: { status: 200, description: 'the patient', schema: PatientSummarySchema } },
  {
    method: 'patch',
    path: '/api/patients/:patientId',
    summary: 'Edit a patient (phones given replace the numbers)',
    access: api(RVM_WRITE),
    params: PatientIdParams,
    body: { schema: PatientPatch, example: { preferredLanguage: 'es', phones: [{ number: '+12025550124', kind: 'home', preferred: true }] } },
    ok: { status: 200, description: 'the patient as changed', schema: PatientSummarySchema },
    also: { 409: { description: 'the change would duplicate another patient: its id', same: 'error' } },
  },
  { method: 'post', path: '/api/patients/:patientId/deactivate', summary: 'Deactivate a patient (kept; no longer found by number)', access: api(RVM_WRITE), params: PatientIdParams, ok: { status: 200, description: 'deactivated', schema: z.object({ id: z.uuid(), active: z.literal(false) }) } },
  {
    method: 'post',
    path: '/api/patients/:patientId/merge',
    summary: 'Merge a duplicate into this patient',
    description: 'In one transaction the duplicate becomes inactive (merged_into this patient) and its numbers, appointments, consents (copied: they are append-only), drops, voicemails and lockouts move here; rows that would clash stay with the duplicate. Nothing is deleted. Audited with both ids.',
    access: api(ADMIN),
    params: PatientIdParams,
    body: { schema: MergeBody, example: { duplicateId: EX.patientId } },
    ok: { status: 200, description: 'what moved', schema: z.object({ survivorId: z.uuid(), duplicateId: z.uuid(), moved: z.record(z.string(), z.number()) }) },
  },
  {
    method: 'get',
    path: '/api/patients/:patientId/next-appointment',
    summary: 'The next appointment a caller would hear of now (booked or confirmed; cancelled and no-show never)',
    access: api(HANDLERS),
    params: PatientIdParams,
    ok: { status: 200, description: 'the next appointment, or null', schema: z.object({ patientId: z.uuid(), next: z.object({ id: z.uuid(), startsAt: Instant }).nullable() }) },
  },
  { method: 'get', path: '/api/appointments', summary: 'Appointments, by start', access: api(HANDLERS), query: AppointmentListQuery, ok: { status: 200, description: 'the appointments', schema: z.object({ appointments: z.array(AppointmentSchema) }) } },
  {
    method: 'post',
    path: '/api/appointments',
    summary: 'Book an appointment',
    access: api(RVM_WRITE),
    body: { schema: AppointmentInput, example: { patientId: EX.patientId, startsAt: '2026-12-01T09:30:00-05:00', status: 'booked', providerId: EX.providerId, locationName: 'Main Street clinic' } },
    ok: { status: 201, description: 'the appointment', schema: AppointmentSchema },
    also: { 409: 'the patient already has an appointment at that time' },
  },
  {
    method: 'post',
    path: '/api/appointments/import',
    summary: 'Import appointments from CSV, by patient MRN (dry run unless dryRun=false): queued as a job',
    description: `A text/csv body, streamed into storage envelope-encrypted (at most ${IMPORT_MAX_BYTES} bytes); 202 with the import's id, followed at GET /api/imports/{id}. Columns: mrn and starts_at (ISO 8601 with offset) required, status (${APPOINTMENT_STATUSES.join(', ')}; booked if empty), provider (id or display name), location. Upserted by patient and start; one transaction: with an invalid row nothing is written, and the message names the row and field.`,
    access: api(ADMIN),
    query: ImportQuery,
    body: { schema: z.string(), example: 'mrn,starts_at,status,location\nMRN-1001,2026-12-01T09:30:00-05:00,booked,Main Street clinic\n', contentType: 'text/csv' },
    ok: { status: 202, description: "queued: the import's id (Location: /api/imports/{id})", schema: ImportAcceptedSchema },
    also: { 413: 'the body is too large (nothing kept)', 503: 'the job could not be queued (nothing imported; try again)' },
  },
  { method: 'get', path: '/api/imports', summary: "The practice's CSV imports, newest first (status, progress, counts)", access: api(ADMIN), query: ImportListQuery, ok: { status: 200, description: 'the imports', schema: z.object({ imports: z.array(ImportSummarySchema), limit: z.number().int(), offset: z.number().int() }) } },
  {
    method: 'get',
    path: '/api/imports/:id',
    summary: 'A CSV import: status, rows read, and once done its report (a page of its entries)',
    description: 'status: queued, running, done (the report: committed or not) or failed (a reason code; nothing imported). message: the first invalid row of an import that wrote nothing, or why it failed. The entries (invalid and duplicate rows by number, column and reason, never a value) are paged with limit and offset.',
    access: api(ADMIN),
    params: ImportIdParams,
    query: ImportEntriesQuery,
    ok: { status: 200, description: 'the import', schema: ImportDetailSchema },
  },
  { method: 'get', path: '/api/appointments/:id', summary: 'An appointment', access: api(HANDLERS), params: AppointmentIdParams, ok: { status: 200, description: 'the appointment', schema: AppointmentSchema } },
  {
    method: 'patch',
    path: '/api/appointments/:id',
    summary: 'Change an appointment (time, status, provider, place)',
    access: api(RVM_WRITE),
    params: AppointmentIdParams,
    body: { schema: AppointmentPatch, example: { status: 'confirmed' } },
    ok: { status: 200, description: 'the appointment', schema: AppointmentSchema },
    also: { 409: 'the patient already has an appointment at that time' },
  },
  { method: 'delete', path: '/api/appointments/:id', summary: 'Cancel an appointment (never deleted)', access: api(RVM_WRITE), params: AppointmentIdParams, ok: { status: 200, description: 'the cancelled appointment', schema: AppointmentSchema } },
  { method: 'get', path: '/api/consent-disclosures', summary: 'Versioned consent disclosure texts', access: api(RVM_READ), ok: { status: 200, description: 'the disclosures', schema: z.object({ disclosures: z.array(Obj('a disclosure')) }) } },
  {
    method: 'post',
    path: '/api/consent-disclosures',
    summary: 'Record a disclosure text (never changed once recorded)',
    access: api(ADMIN),
    body: { schema: DisclosureInput, example: { version: 'rvm-2026-11', channel: 'rvm', text: 'We may leave you prerecorded voicemail reminders about appointments. Reply STOP or call us to opt out.' } },
    ok: { status: 201, description: 'the disclosure', schema: Obj('a disclosure') },
    also: { 409: 'that version exists' },
  },
  {
    method: 'get',
    path: '/api/patients/:patientId/consents',
    summary: "A patient's consent history and current state per channel",
    access: api(RVM_READ),
    params: PatientParams,
    ok: { status: 200, description: 'history and state', schema: z.object({ patientId: z.uuid(), current: z.record(z.enum(CONSENT_CHANNELS), z.string()), history: z.array(Obj('a consent entry')) }) },
  },
  {
    method: 'post',
    path: '/api/patients/:patientId/consents',
    summary: 'Record a consent grant or revocation (append-only)',
    access: api(RVM_WRITE),
    params: PatientParams,
    body: { schema: ConsentInput, example: { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: 'rvm-2026-11', evidenceRef: 'scan-2026-11-20-0042' } },
    ok: { status: 201, description: 'the consent entry', schema: Obj('a consent entry') },
  },
  {
    method: 'post',
    path: '/api/opt-outs',
    summary: 'Opt a number out of drops',
    access: api(RVM_WRITE),
    body: { schema: PhoneBody, example: { phone: EX.callerNumber } },
    ok: { status: 201, description: 'recorded (200: already opted out)', schema: z.object({ result: z.string() }) },
    also: { 200: 'already opted out' },
  },
  { method: 'post', path: '/api/opt-outs/check', summary: 'Whether a number is opted out', access: api(RVM_READ), body: { schema: PhoneBody, example: { phone: EX.callerNumber } }, ok: { status: 200, description: 'the answer', schema: z.object({ optedOut: z.boolean() }) } },
  { method: 'get', path: '/api/opt-outs', summary: 'Opt-out counts by source', access: api(RVM_READ), ok: { status: 200, description: 'counts', schema: z.object({ bySource: z.record(z.string(), z.number().int()) }) } },
  { method: 'get', path: '/api/vendor-baas', summary: 'Signed vendor BAAs', access: api(RVM_READ), ok: { status: 200, description: 'the BAAs', schema: z.object({ baas: z.array(Obj('a BAA')) }) } },
  { method: 'post', path: '/api/vendor-baas', summary: 'Record a signed vendor BAA', access: api(ADMIN), body: { schema: VendorBaaInput, example: { vendor: 'twilio', signedAt: '2026-10-01', documentRef: 'contracts/twilio-baa-2026.pdf' } }, ok: { status: 201, description: 'the BAA', schema: Obj('a BAA') } },

  // --- /api: drop templates and campaigns --------------------------------------------------
  // --- /api: verification lockouts and API keys --------------------------------------------
  {
    method: 'get',
    path: '/api/lockouts',
    summary: "The practice's verification lockouts (ids only, never a number)",
    access: api(['admin', 'staff', 'auditor']),
    query: LockoutListQuery,
    ok: { status: 200, description: 'the lockouts', schema: LockoutListResponse },
  },
  {
    method: 'post',
    path: '/api/lockouts/:id/clear',
    summary: 'Clear a lockout in force (audited; the back-off history is kept)',
    access: api(['admin', 'staff']),
    params: LockoutIdParams,
    ok: { status: 200, description: 'the cleared lockout', schema: ClearLockoutResponse },
    also: { 409: 'the lockout is over or already cleared' },
  },
  {
    method: 'get',
    path: '/api/practices/:practiceId/api-keys',
    summary: "The practice's API keys: label, role, expiry, last use, status (never the secret or its hash)",
    access: api(ADMIN),
    params: ApiKeyPathParamsSchema.pick({ practiceId: true }),
    ok: { status: 200, description: 'the keys', schema: ApiKeyListResponseSchema },
  },
  {
    method: 'post',
    path: '/api/practices/:practiceId/api-keys/:keyId/revoke',
    summary: 'Revoke an API key at once (audited)',
    access: api(ADMIN),
    params: ApiKeyPathParamsSchema,
    ok: { status: 200, description: 'revoked (or already revoked)', schema: ApiKeyRevokeResponseSchema },
  },

  { method: 'get', path: '/api/drop-templates', summary: "Built-in and the practice's own drop templates", access: api(RVM_READ), ok: { status: 200, description: 'the templates', schema: z.object({ templates: z.array(Obj('a template')) }) } },
  {
    method: 'post',
    path: '/api/drop-templates',
    summary: "Add a practice template (checked for PHI and placeholders; 400 template_rejected names the problems)",
    access: api(ADMIN),
    body: { schema: TemplateInput, example: { name: 'Flu shots', purpose: 'recall', text: 'Hello, this is {practice_name}. Flu shots are available; please call {callback_number} to book. To stop these messages, press 9 or call us.' } },
    ok: { status: 201, description: 'the template', schema: Obj('a template') },
  },
  {
    method: 'post',
    path: '/api/drop-templates/check',
    summary: 'Run the PHI and placeholder check on a template text without storing it (the console shows the verdict as it is typed)',
    access: api(ADMIN),
    body: { schema: TemplateCheckInput, example: { purpose: 'recall', text: 'Hello, this is {practice_name}. Please call {callback_number}. To stop these messages, press 8.' } },
    ok: {
      status: 200,
      description: 'the verdict: `ok`, and each problem (kind, the term as written, the list or pattern that caught it); for an SMS template (`channel: sms`) its length in segments',
      schema: z.object({
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
    },
  },
  { method: 'get', path: '/api/campaigns', summary: 'List campaigns', access: api(RVM_READ), ok: { status: 200, description: 'the campaigns', schema: z.object({ campaigns: z.array(Obj('a campaign')) }) } },
  {
    method: 'post',
    path: '/api/campaigns',
    summary: 'Create a campaign (optionally with its recipients)',
    access: api(ADMIN),
    body: { schema: CampaignInputSchema, example: { name: 'November recall', templateId: 'recall', templateParams: { callback_number: '(202) 555-0100' }, provider: 'twilio', ratePerMinute: 30, patientIds: [EX.patientId] } },
    ok: { status: 201, description: 'the campaign (with `recipients` when patientIds were given)', schema: Obj('a campaign') },
  },
  { method: 'get', path: '/api/campaigns/:campaignId', summary: "A campaign's progress", access: api(RVM_READ), params: CampaignParams, ok: { status: 200, description: 'progress', schema: Obj('campaign progress') } },
  { method: 'get', path: '/api/campaigns/:campaignId/drops', summary: "A campaign's drops", access: api(RVM_READ), params: CampaignParams, query: DropsQuery, ok: { status: 200, description: 'the drops', schema: z.object({ drops: z.array(Obj('a drop')) }) } },
  {
    method: 'post',
    path: '/api/campaigns/:campaignId/recipients',
    summary: 'Add recipients: JSON patientIds, or text/csv with a patient_id column',
    access: api(ADMIN),
    params: CampaignParams,
    body: {
      schema: RecipientsBody,
      example: { patientIds: [EX.patientId] },
      description: 'JSON patientIds, or `text/csv` with a `patient_id` column',
      alternatives: { 'text/csv': z.string().meta({ description: 'CSV with a header row naming a patient_id column' }) },
    },
    ok: { status: 200, description: 'how many were added, and why the others were not', schema: z.object({ added: z.number().int(), summary: z.record(z.string(), z.number().int()), rows: z.array(Obj('a refused row')) }) },
  },
  { method: 'post', path: '/api/campaigns/:campaignId/dry-run', summary: 'What a start would send, and what it would skip', access: api(RVM_WRITE), params: CampaignParams, ok: { status: 200, description: 'the dry run', schema: Obj('dry-run result') } },
  {
    method: 'post',
    path: '/api/campaigns/:campaignId/:command',
    summary: `Start, pause, resume or cancel a campaign (${CAMPAIGN_COMMANDS.join(', ')})`,
    access: api(ADMIN),
    params: CampaignCommandParams,
    ok: { status: 200, description: 'the campaign after the command', schema: Obj('a campaign') },
    also: { 409: 'not allowed in its state' },
  },
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
  const ok = route.ok;
  const success = (description: string): ResponseConfig => ({ description, ...(ok.schema ? { content: json(ok.schema, ok.contentType) } : {}) });
  for (const [code, also] of Object.entries(route.also ?? {})) {
    const status = Number(code);
    const { description, same } = typeof also === 'string' ? { description: also, same: status < 400 ? 'ok' : 'error' } : also;
    out[status] = same === 'ok' ? success(description) : err(description);
  }
  out[ok.status] = success(ok.description);
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
