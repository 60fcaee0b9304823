import type { QueryFunctionContext } from '@tanstack/react-query';
import { ApiError, networkError, toApiError } from './errors';

/**
 * The console's one way to the API: same origin, the session cookie (HttpOnly: the page never
 * sees it), the CSRF token from GET /api/session on every state-changing request, JSON both ways.
 * Nothing is kept in browser storage; the token lives in this module's memory and dies with the page.
 */
let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;
let onActivity: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called on a 401 from any request but the session probe: the app sends the person to sign-in. */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

/** Called after each answered request but a background one: the server's idle clock restarted, so does the page's. */
export function setActivityHandler(handler: (() => void) | null): void {
  onActivity = handler;
}

export type Query = Record<string, string | number | undefined | null>;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  query?: Query;
  body?: unknown;
  /** A file sent as it is (a CSV upload) with its content type, instead of a JSON `body`. */
  upload?: { contentType: string; data: Blob | string };
  signal?: AbortSignal;
  /** The session probe itself: a 401 there means "signed out", not "send to sign-in". */
  quietUnauthorized?: boolean;
  /**
   * Not the person's doing (a poll): sent with `X-Background: 1`, so the server does not restart
   * the session's idle clock, and its answer is no activity here either (automatic logoff).
   */
  background?: boolean;
}

/** The signals of a polled query's background fetches (see `pollingQueryFn`); `api()` reads them. */
const backgroundSignals = new WeakSet<AbortSignal>();

/**
 * The `queryFn` of every query the page refreshes by itself (`refetchInterval`, refetch on
 * focus). Its first load (no data for the key yet) is the person's doing; each later fetch is a
 * background one: `api()` calls made with the query's signal send `X-Background: 1` and count as
 * no activity, so a page left open on a poll still logs off when the person has gone.
 */
export function pollingQueryFn<T>(fetcher: (signal: AbortSignal) => Promise<T>): (context: QueryFunctionContext) => Promise<T> {
  return (context) => {
    if (context.client.getQueryData(context.queryKey) !== undefined) backgroundSignals.add(context.signal);
    return fetcher(context.signal);
  };
}

export function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? path : `${path}?${text}`;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.upload) headers['Content-Type'] = options.upload.contentType;
  if (method !== 'GET' && csrfToken !== null) headers['X-CSRF-Token'] = csrfToken;
  const background = options.background === true || (options.signal !== undefined && backgroundSignals.has(options.signal));
  if (background) headers['X-Background'] = '1';
  let res: Response;
  try {
    res = await fetch(withQuery(path, options.query), {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: options.upload ? options.upload.data : options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw networkError();
  }
  const body: unknown = await readBody(res);
  if (!res.ok) {
    const error = toApiError(res.status, body);
    if (error.kind === 'unauthorized' && !options.quietUnauthorized) onUnauthorized?.();
    throw error;
  }
  if (!background) onActivity?.();
  return body as T;
}

async function readBody(res: Response): Promise<unknown> {
  if (res.status === 204) return undefined;
  const type = res.headers.get('content-type') ?? '';
  // A flow's source is YAML: text answers are read as text.
  if (type.startsWith('text/')) return res.text();
  if (!type.includes('application/json')) return undefined;
  try {
    return await res.json();
  } catch {
    return undefined;
  }
}

export { ApiError };
