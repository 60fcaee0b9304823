/**
 * The API's shapes the console reads. They follow the server's own types (named beside each)
 * and the OpenAPI document at /api/openapi.json; a change there is a change here.
 */
export type Role = 'admin' | 'staff' | 'provider' | 'auditor';

/** GET /api/session (the staff-accounts work: src/auth/ on the server). */
export interface Session {
  user: { id: string; email?: string; name?: string | null };
  memberships: Array<{ practiceId: string; practiceName?: string; role: Role }>;
  activePracticeId: string | null;
  csrfToken: string;
  /** When the session ends unless something happens before (ISO 8601). */
  idleDeadline: string;
  /** Milliseconds until the idle logoff by the service's clock (the page's clock may differ). */
  idleMsLeft: number;
}

/** POST /api/auth/login and /api/auth/totp: what the sign-in asks for next. */
export interface SignInStep {
  next: 'totp' | 'enrol_totp' | 'done';
  /** The session's CSRF token: each step's answer carries the (rotated) session's. */
  csrfToken?: string;
}

/** POST /api/auth/totp/enrol: shown once. */
export interface TotpEnrolment {
  uri: string;
  secret: string;
  recoveryCodes?: string[];
}

/** src/calls/call-list.ts ListedCall. */
export const CALL_OUTCOMES = ['handed_to_provider', 'urgent_voicemail', 'message', 'transferred', 'abandoned_at_menu', 'fail_safe', 'completed_other'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

export interface ListedCall {
  callSid: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  status: string;
  /** E.164, or masked for an auditor; null when withheld. */
  callerNumber: string | null;
  patient: { match: 'verified' | 'number' | 'unknown'; patientId: string | null };
  path: string[];
  outcome: CallOutcome | null;
  urgency: 'urgent' | 'routine' | null;
  voicemailIds: string[];
}

export interface CallPage {
  calls: ListedCall[];
  nextCursor: string | null;
}
