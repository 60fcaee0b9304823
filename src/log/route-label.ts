/**
 * What a log line or an audit row may say about "which URL": the matched route pattern
 * (`/api/practices/:practiceId/numbers/:e164`), or, when no route matched (404s, requests
 * refused before routing), the path's shape: our own route words kept, every other segment
 * replaced by a placeholder. Never the raw path, never the query string: the audit log is
 * append-only, so whatever reaches it stays there for good.
 */
import type { Request } from 'express';
import { redactString } from './redact.js';

const MAX_ROUTE_LENGTH = 120;

/** Single-use playback links carry their credential in the path. */
const PLAYBACK = /^\/playback\/[^/]+/;

/** What an unmatched path's segment becomes unless it is one of ROUTE_WORDS. */
const SEGMENT = ':segment';

/**
 * The literal path words of our own routes (src/http/*.ts and their mount paths): the only
 * segments an unmatched path's label repeats, since any other segment may be a patient's name.
 * It must list them; a word missing here only makes a 404's label less specific, never unsafe.
 */
const ROUTE_WORDS: ReadonlySet<string> = new Set([
  // app.ts: probes, prompts, mount paths
  'healthz', 'readyz', 'audio', 'twilio', 'api',
  // api-routes.ts, call-routes.ts
  'whoami', 'calls', 'pages', 'ack', 'audit',
  // audit-routes.ts
  'verify', 'export',
  // practice-routes.ts, platform-routes.ts
  'flows', 'practices', 'numbers', 'suspend', 'reactivate', 'lines', 'connect',
  // flow-routes.ts
  'source', 'versions', 'flow', 'rollback', 'contacts',
  // oncall-routes.ts (and FEED_PATH)
  'oncall', 'providers', 'shifts.ics', 'feed-token', 'schedules', 'overrides', 'policies', 'now', 'shifts', 'feeds', 'oncall.ics',
  // swap-routes.ts
  'swaps', 'decline', 'cancel',
  // voicemail-routes.ts
  'voicemails', 'dead-letter', 'retry', 'playback-link', 'playback',
  // patient-routes.ts
  'search', 'import', 'deactivate', 'merge', 'next-appointment', 'appointments', 'recall-due',
  // import-routes.ts
  'imports',
  // drops-routes.ts
  'patients', 'lookup', 'consents', 'consent-disclosures', 'opt-outs', 'check', 'vendor-baas', 'drop-templates', 'campaigns', 'drops', 'recipients', 'dry-run', 'rvm', 'webhook',
  // sequence-routes.ts (and the commands of campaigns and sequences)
  'sequences', 'audience', 'report', 'report.csv', 'pause', 'resume', 'cancel',
  // key-routes.ts
  'api-keys', 'revoke',
  // fhir-routes.ts
  'fhir', 'import', 'source', 'sync', 'runs',
  // lockout-routes.ts, metrics-routes.ts, openapi.ts
  'lockouts', 'clear', 'metrics', 'openapi.json',
  // outreach-routes.ts, email-routes.ts
  'communication-matrix', 'email-notices', 'email-templates', 'email-opt-outs', 'u',
  // task-routes.ts
  'tasks', 'claim', 'attempts', 'close', 'call', 'assign',
  // report-routes.ts
  'reports', 'overnight',
  // auth-routes.ts, user-routes.ts
  'auth', 'login', 'totp', 'enrol', 'confirm', 'logout', 'logout-everywhere', 'invitations', 'inspect', 'accept', 'password-reset', 'complete', 'session', 'practice', 'users', 'membership', 'disable', 'reset-link', 'me', 'phone',
  // oidc-routes.ts
  'oidc', 'start', 'callback', 'pending', 'sso', 'console',
  // twilio-routes.ts
  'voice', 'incoming', 'flow', 'whisper', 'whisper-answer', 'access', 'access-action', 'sms', 'status', 'recording-status', 'answer', 'fallback', 'fail-safe-dial', 'callback', 'dialed',
]);

function decode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    // A malformed escape: decode what can be decoded, leave the rest (it is still redacted).
    return path.replace(/%[0-9a-fA-F]{2}/g, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
  }
}

function bound(label: string): string {
  return label.length > MAX_ROUTE_LENGTH ? `${label.slice(0, MAX_ROUTE_LENGTH)}…` : label;
}

/**
 * Pure: a request path (query string dropped, percent-escapes decoded so `%2B1202…` cannot slip
 * past) with phone numbers, dates, e-mail addresses and digit runs replaced, bounded. It keeps
 * any other text (a name), so it is only for paths we chose: a matched route's mount path.
 */
export function redactPath(pathAndQuery: string): string {
  const path = (pathAndQuery.split('?')[0] ?? '').replace(PLAYBACK, '/playback/:token');
  return bound(redactString(decode(path).replace(/\s/g, ' ')));
}

/**
 * Pure: the label of a path no route matched. Query string dropped; each segment, percent-decoded
 * and lower-cased, is kept if it is one of our route words and is `:segment` otherwise (so
 * `/api/patients/Jane%20Doe/notes` is `/api/patients/:segment/:segment`); `/playback/<token>`
 * keeps `:token`. Segments are counted as sent (`%2F` does not split one), and the label is bounded.
 */
export function unmatchedPathLabel(pathAndQuery: string): string {
  const words = (pathAndQuery.split('?')[0] ?? '').split('/').map((s) => decode(s).toLowerCase());
  const label = words.map((word, i) => {
    if (word === '') return '';
    if (i === 2 && words[0] === '' && words[1] === 'playback') return ':token';
    return ROUTE_WORDS.has(word) ? word : SEGMENT;
  });
  return bound(label.join('/'));
}

/**
 * The route pattern a request matched, prefixed with the path its router is mounted at
 * (redacted too, though our mount paths are literals: '/api', '/twilio', '/audio'); otherwise
 * the unmatched path's label. `relativeTo` drops a mount prefix (e.g. '/twilio') for labels
 * that name it elsewhere.
 */
export function routeLabel(req: Request, relativeTo = ''): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  const full = typeof pattern === 'string' ? `${redactPath(req.baseUrl)}${pattern}` : unmatchedPathLabel(req.originalUrl);
  const label = relativeTo && full.startsWith(`${relativeTo}/`) ? full.slice(relativeTo.length) : full;
  return label.slice(0, MAX_ROUTE_LENGTH);
}
