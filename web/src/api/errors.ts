/**
 * What the API answers when it refuses, as the console shows it. The service's refusals are
 * JSON `{ error, message }`; a 400's message lists its problems as `field: problem; …`
 * (src/http/responses.ts), so the fields can be named next to the form that sent them.
 */
import type * as Generated from './generated';

export type ApiErrorKind = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'rate_limited' | 'server' | 'network';

export interface FieldProblem {
  /** The field the API named (`from`, `body.email`, …); 'request' when it named none. */
  field: string;
  problem: string;
}

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number;
  /** The API's own error code (`bad_request`, `not_found`, …), when it sent one. */
  readonly code: string | null;
  readonly fields: FieldProblem[];
  /** The answer's whole body, for a refusal that says more than its message (a flow's `problems`). */
  readonly body: unknown;

  constructor(kind: ApiErrorKind, status: number, code: string | null, message: string, fields: FieldProblem[] = [], body: unknown = undefined) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.body = body;
  }

  /** The problem with one field (the last part of its path: `body.email` answers for `email`). */
  fieldProblem(field: string): string | undefined {
    return this.fields.find((f) => f.field === field || f.field.endsWith(`.${field}`))?.problem;
  }
}

function kindOf(status: number): ApiErrorKind {
  if (status === 400 || status === 414 || status === 422) return 'bad_request';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  return 'server';
}

/** `from: Invalid date; outcome: Invalid option` → one problem per field, in order. */
export function parseFieldProblems(message: string): FieldProblem[] {
  return message
    .split('; ')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf(': ');
      // A field path is a short dotted word; anything else is a sentence with a colon in it.
      if (at > 0 && /^[A-Za-z0-9_.[\]]{1,80}$/.test(part.slice(0, at))) return { field: part.slice(0, at), problem: part.slice(at + 2) };
      return { field: 'request', problem: part };
    });
}

/** Words for people, never the server's internals (a 500 says only that it failed). */
const GENERIC: Record<ApiErrorKind, string> = {
  bad_request: 'The request was not accepted.',
  unauthorized: 'You are signed out. Sign in again.',
  forbidden: 'Your role does not allow this.',
  not_found: 'Not found.',
  conflict: 'Someone changed this at the same time. Reload and try again.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
  server: 'The service could not answer. Try again in a moment.',
  network: 'The service cannot be reached. Check the connection and try again.',
};

/** An answer that was not 2xx, as an ApiError: its kind from the status, its fields from a 400's message. */
export function toApiError(status: number, body: unknown): ApiError {
  const kind = kindOf(status);
  // The OpenAPI document's Error ({ error, message? }), read field by field: the body is not trusted to match it.
  const record: Partial<Record<keyof Generated.Error, unknown>> = typeof body === 'object' && body !== null ? (body as Partial<Record<keyof Generated.Error, unknown>>) : {};
  const code = typeof record.error === 'string' ? record.error : null;
  const message = typeof record.message === 'string' ? record.message : '';
  if (kind === 'bad_request' && message !== '') {
    const fields = parseFieldProblems(message);
    return new ApiError(kind, status, code, message, fields, body);
  }
  // Only a client error's message is the API's word to the user; a server error's is not shown.
  const shown = kind !== 'server' && message !== '' ? message : GENERIC[kind];
  return new ApiError(kind, status, code, shown, [], kind === 'server' ? undefined : body);
}

export function networkError(): ApiError {
  return new ApiError('network', 0, null, GENERIC.network);
}

/** The sentence to show for any error a request threw. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return GENERIC.server;
}
