import { useQuery, type QueryClient } from '@tanstack/react-query';
import { api, setCsrfToken } from './client';
import { ApiError } from './errors';
import type { Session, SignInStep, TotpEnrolment } from './types';

export const SESSION_KEY = ['session'] as const;

/** The session, or null when signed out (a 401 here is an answer, not an error). */
export async function fetchSession(): Promise<Session | null> {
  try {
    const session = await api<Session>('/api/session', { quietUnauthorized: true });
    setCsrfToken(session.csrfToken);
    return session;
  } catch (err) {
    if (err instanceof ApiError && (err.kind === 'unauthorized' || err.kind === 'not_found')) {
      setCsrfToken(null);
      return null;
    }
    throw err;
  }
}

export function useSession() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 30_000, retry: false });
}

/** A sign-in step's answer: its CSRF token is the one the next step must send. */
function stepTaken(step: SignInStep): SignInStep {
  if (step.csrfToken !== undefined) setCsrfToken(step.csrfToken);
  return step;
}

export async function signIn(email: string, password: string): Promise<SignInStep> {
  return stepTaken(await api<SignInStep>('/api/auth/login', { method: 'POST', body: { email, password } }));
}

/**
 * After a single sign-on that asks for TOTP (`/console/sign-in?sso=totp|enrol_totp`): the pending
 * session's step and CSRF token, which no login answer gave this page.
 */
export async function resumeSsoSignIn(): Promise<Exclude<SignInStep['next'], 'done'>> {
  const pending = await api<{ next: 'totp' | 'enrol_totp'; csrfToken: string }>('/api/auth/pending', { quietUnauthorized: true });
  setCsrfToken(pending.csrfToken);
  return pending.next;
}

export async function verifyTotp(answer: { code: string } | { recoveryCode: string }): Promise<SignInStep> {
  return stepTaken(await api<SignInStep>('/api/auth/totp', { method: 'POST', body: answer }));
}

export function enrolTotp(): Promise<TotpEnrolment> {
  return api<TotpEnrolment>('/api/auth/totp/enrol', { method: 'POST', body: {} });
}

export async function confirmTotp(code: string): Promise<SignInStep> {
  return stepTaken(await api<SignInStep>('/api/auth/totp/confirm', { method: 'POST', body: { code } }));
}

export async function switchPractice(client: QueryClient, practiceId: string): Promise<void> {
  await api('/api/session/practice', { method: 'POST', body: { practiceId } });
  // Nothing read for one practice may show under another.
  client.clear();
  await client.fetchQuery({ queryKey: SESSION_KEY, queryFn: fetchSession });
}

/** Ends the session on the server (best effort: the page is cleared either way). */
export async function signOut(): Promise<void> {
  try {
    await api('/api/auth/logout', { method: 'POST', body: {}, quietUnauthorized: true });
  } catch {
    // Already signed out, or the service is unreachable: the page forgets the session regardless.
  }
  setCsrfToken(null);
}

/** The role in the practice the session is working in. */
export function activeRole(session: Session): Session['memberships'][number]['role'] | null {
  return session.memberships.find((m) => m.practiceId === session.activePracticeId)?.role ?? null;
}

/** What accepting an invitation answers: the account (new or the signed-in person's) and the practice joined. */
export interface AcceptedInvitation {
  userId: string;
  practiceId: string;
  created: boolean;
}

/** What an invitation's link may tell its page before anything is asked: the practice, and whether it can be joined through single sign-on. */
export interface InvitationPreview {
  practiceName: string;
  sso: boolean;
  /** The practice's slug to start single sign-on with; null when sso is false. */
  ssoPractice: string | null;
}

/** Reads what the page may know of an invitation (404 for a link that cannot be used). */
export function inspectInvitation(token: string): Promise<InvitationPreview> {
  return api<InvitationPreview>('/api/auth/invitations/inspect', { method: 'POST', body: { token }, quietUnauthorized: true });
}

/**
 * Accepts an invitation with the token from the link: a new account (password and name), or, for
 * a person signed in already, the token alone (the session's cookie and CSRF token say who).
 */
export function acceptInvitation(body: { token: string; password?: string; displayName?: string }): Promise<AcceptedInvitation> {
  return api<AcceptedInvitation>('/api/auth/invitations/accept', { method: 'POST', body, quietUnauthorized: true });
}

/** Sets a new password with the token from a reset link (every session of the person ends). */
export async function completePasswordReset(token: string, password: string): Promise<void> {
  await api('/api/auth/password-reset/complete', { method: 'POST', body: { token, password }, quietUnauthorized: true });
}
