/**
 * What a log line or an audit row may say about "which URL": the matched route pattern
 * (`/api/practices/:practiceId/numbers/:e164`), or, when no route matched (404s, requests
 * refused before routing), the path with every phone number, date and run of 4+ digits
 * replaced by a placeholder. Never the raw path, never the query string: the audit log is
 * append-only, so whatever reaches it stays there for good.
 */
import type { Request } from 'express';
import { redactString } from './redact.js';

const MAX_ROUTE_LENGTH = 120;

/** Single-use playback links carry their credential in the path. */
const PLAYBACK = /^\/playback\/[^/]+/;

function decode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    // A malformed escape: decode what can be decoded, leave the rest (it is still redacted).
    return path.replace(/%[0-9a-fA-F]{2}/g, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
  }
}

/**
 * Pure: a request path (query string dropped, percent-escapes decoded so `%2B1202…` cannot slip
 * past) with phone numbers, dates, e-mail addresses and digit runs replaced, bounded.
 */
export function redactPath(pathAndQuery: string): string {
  const path = (pathAndQuery.split('?')[0] ?? '').replace(PLAYBACK, '/playback/:token');
  const scrubbed = redactString(decode(path).replace(/\s/g, ' '));
  return scrubbed.length > MAX_ROUTE_LENGTH ? `${scrubbed.slice(0, MAX_ROUTE_LENGTH)}…` : scrubbed;
}

/**
 * The route pattern a request matched, prefixed with the path its router is mounted at
 * (redacted too: a mount path with parameters holds their values); otherwise the redacted path.
 * `relativeTo` drops a mount prefix (e.g. '/twilio') for labels that name it elsewhere.
 */
export function routeLabel(req: Request, relativeTo = ''): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  const full = typeof pattern === 'string' ? `${redactPath(req.baseUrl)}${pattern}` : redactPath(req.originalUrl);
  const label = relativeTo && full.startsWith(`${relativeTo}/`) ? full.slice(relativeTo.length) : full;
  return label.slice(0, MAX_ROUTE_LENGTH);
}
