/**
 * The API's shapes the console reads. Where the OpenAPI document names a schema they come from
 * web/src/api/generated.ts (npm run web:types); the rest follow the server's own types (named
 * beside each) by hand: the document has no named schema for them yet.
 */
import type * as Generated from './generated';

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

/** A row of GET /api/calls: the generated CallView's summary (the same ListedCall on the server). */
export type ListedCall = NonNullable<Generated.CallView['summary']>;

export interface CallPage {
  calls: ListedCall[];
  nextCursor: string | null;
}
