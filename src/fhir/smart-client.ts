import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { guardedRequest, RefusedDestination, ResponseTooLarge, type GuardedResponse, type Lookup } from '../adapters/guarded-http.js';
import type { FhirResourceType, SigningAlgorithm } from './source-store.js';

/**
 * A FHIR R4 server's search API under SMART Backend Services authorisation
 * (https://hl7.org/fhir/smart-app-launch/backend-services.html): the client signs a short-lived
 * JWT assertion with its private key (`private_key_jwt`, RS384 or ES384, with its `kid`), trades it
 * at the token endpoint for an access token (client credentials), and searches with that token,
 * paging through `Bundle.link[relation=next]`.
 *
 * Every request is bounded in time and size, and goes out through ./guarded-http.ts: an endpoint
 * whose name resolves to a private, link-local (metadata) or loopback address is refused before
 * anything is sent (loopback only in development and test), and a redirect is never followed. A
 * next link must stay on the base URL's origin (a server pointing us elsewhere would get our
 * token). Errors carry a reason code and a message that
 * never repeats a server's body (it could quote PHI); the OAuth error code is kept, it is not PHI.
 */

export type FhirSyncFailure =
  | 'token_refused'
  | 'token_unreachable'
  | 'search_refused'
  | 'search_unreachable'
  | 'bad_bundle'
  | 'foreign_next_link'
  | 'paging_loop'
  | 'address_refused'
  | 'bad_key';

export class FhirSyncError extends Error {
  constructor(
    readonly reason: FhirSyncFailure,
    message: string,
    /** The HTTP status of a refused search, when there was one. */
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'FhirSyncError';
  }
}

export interface SmartClientOptions {
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  privateKeyJwk: string;
  keyId: string;
  algorithm: SigningAlgorithm;
  clock: () => Date;
  /** Per request (token or page). */
  requestTimeoutMs?: number;
  /** Plain http and loopback addresses (development and test, the loopback doubles); never in production. */
  allowLoopback: boolean;
  /** DNS, for a test's stand-in; the system resolver otherwise. */
  lookup?: Lookup;
}

/** The assertion lives at most this long (SMART: no more than five minutes). */
export const ASSERTION_LIFETIME_S = 300;
/** A token is renewed this long before the server said it expires. */
const TOKEN_SLACK_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 20_000;
/** A page of 100 resources is well under this; a token answer far under. */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
const SCOPES = 'system/Patient.read system/Appointment.read';

/** One page of a search: its matches, and the next page's (checked) URL, or null on the last. */
export interface SearchPage {
  resources: Resource[];
  next: string | null;
}

export interface SmartClient {
  /**
   * The resources of `type` updated at or after `since` (all, when null), sorted by
   * meta.lastUpdated, page by page. `ge`, not `gt`: a resource updated in the same instant as the
   * cursor but not seen yet is not skipped (the caller recognises the ones it has applied).
   */
  search(type: FhirResourceType, since: string | null, pageSize: number): AsyncGenerator<SearchPage>;
  /** The pages from a next link an earlier run stopped at (same origin as the base URL, else refused). */
  continueFrom(type: FhirResourceType, next: string): AsyncGenerator<SearchPage>;
}

/** An OAuth error code is a short token (`invalid_client`): kept; anything else is not repeated. */
function oauthErrorCode(body: unknown): string | null {
  const code = body && typeof body === 'object' ? (body as { error?: unknown }).error : null;
  return typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : null;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function createSmartClient(opts: SmartClientOptions): SmartClient {
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const base = new URL(withoutTrailingSlash(opts.baseUrl));
  let token: { value: string; until: number } | null = null;

  async function assertion(): Promise<string> {
    let key: Awaited<ReturnType<typeof importJWK>>;
    try {
      key = await importJWK(JSON.parse(opts.privateKeyJwk) as JWK, opts.algorithm);
    } catch {
      throw new FhirSyncError('bad_key', `the stored private key cannot sign ${opts.algorithm}`);
    }
    const now = Math.floor(opts.clock().getTime() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: opts.algorithm, kid: opts.keyId, typ: 'JWT' })
      .setIssuer(opts.clientId)
      .setSubject(opts.clientId)
      .setAudience(opts.tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_LIFETIME_S)
      .sign(key);
  }

  /** The request through the guard: a refused address, an overlong answer or no answer become the failure `unreachable` names. */
  async function send(url: URL, req: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }, unreachable: 'token_unreachable' | 'search_unreachable', what: string): Promise<GuardedResponse> {
    try {
      return await guardedRequest(url, { ...req, timeoutMs, maxBytes: MAX_ANSWER_BYTES, allowLoopback: opts.allowLoopback, ...(opts.lookup ? { lookup: opts.lookup } : {}) });
    } catch (err) {
      if (err instanceof RefusedDestination) throw new FhirSyncError('address_refused', `${what} is at a ${err.why === 'loopback' ? 'loopback' : 'private, link-local or reserved'} address: refused`);
      if (err instanceof ResponseTooLarge) throw new FhirSyncError('bad_bundle', `${what} answered more than ${MAX_ANSWER_BYTES} bytes`);
      throw new FhirSyncError(unreachable, `${what} did not answer (${(err as Error).name})`);
    }
  }

  async function accessToken(): Promise<string> {
    if (token && token.until > opts.clock().getTime()) return token.value;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: SCOPES,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
    });
    const res = await send(
      new URL(opts.tokenUrl),
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() },
      'token_unreachable',
      'the token endpoint',
    );
    const body = res.json;
    // A redirect is not followed (it could send the assertion elsewhere): a refusal like any other.
    if (res.status < 200 || res.status > 299) {
      const code = oauthErrorCode(body);
      throw new FhirSyncError('token_refused', `the token endpoint refused the client assertion (HTTP ${res.status}${code ? `, ${code}` : ''})`);
    }
    const value = (body as { access_token?: unknown } | null)?.access_token;
    const expiresIn = (body as { expires_in?: unknown } | null)?.expires_in;
    if (typeof value !== 'string' || value.length === 0) throw new FhirSyncError('token_refused', 'the token endpoint answered without an access_token');
    const lifetimeMs = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn * 1000 : 300_000;
    token = { value, until: opts.clock().getTime() + Math.max(0, lifetimeMs - TOKEN_SLACK_MS) };
    return value;
  }

  /** A next link, checked: same origin as the base URL, else refused (it would carry our token). */
  function nextUrl(bundle: Bundle): string | null {
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (typeof next !== 'string') return null;
    let url: URL;
    try {
      url = new URL(next, base);
    } catch {
      throw new FhirSyncError('bad_bundle', 'a next link is not a URL');
    }
    if (url.origin !== base.origin) throw new FhirSyncError('foreign_next_link', 'a next link leaves the server (another origin): refused');
    return url.toString();
  }

  async function page(url: string): Promise<Bundle> {
    const bearer = await accessToken();
    const res = await send(new URL(url), { method: 'GET', headers: { authorization: `Bearer ${bearer}`, accept: 'application/fhir+json' } }, 'search_unreachable', 'the FHIR server');
    const body = res.json;
    // A redirect is not followed (it would carry the bearer token): a refusal like any other.
    if (res.status < 200 || res.status > 299) throw new FhirSyncError('search_refused', `the FHIR server refused a search (HTTP ${res.status})`, res.status);
    if (!body || typeof body !== 'object' || (body as { resourceType?: unknown }).resourceType !== 'Bundle') {
      throw new FhirSyncError('bad_bundle', 'a search answered something other than a Bundle');
    }
    return body as Bundle;
  }

  /** Pages from `url` on, each with its next link; the caller stops when its budget is spent. A link seen twice is a loop. */
  async function* pages(type: FhirResourceType, url: string): AsyncGenerator<SearchPage> {
    const seen = new Set<string>();
    for (let current: string | null = url; current; ) {
      if (seen.has(current)) throw new FhirSyncError('paging_loop', `the ${type} search's next links go round in a loop`);
      seen.add(current);
      const bundle = await page(current);
      // Matches only: `include` entries (another type) and `outcome` entries are not ours to import.
      const resources = (bundle.entry ?? [])
        .filter((e) => e && typeof e === 'object' && (e.search?.mode === undefined || e.search.mode === 'match'))
        .map((e) => e.resource)
        .filter((r): r is Resource => !!r && typeof r === 'object' && r.resourceType === type);
      current = nextUrl(bundle);
      yield { resources, next: current };
    }
  }

  return {
    search(type, since, pageSize) {
      const first = new URL(`${base.toString().replace(/\/+$/, '')}/${type}`);
      if (since) first.searchParams.set('_lastUpdated', `ge${since}`);
      first.searchParams.set('_count', String(pageSize));
      first.searchParams.set('_sort', '_lastUpdated');
      return pages(type, first.toString());
    },
    continueFrom(type, next) {
      return pages(type, nextUrl({ resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'next', url: next }] }) ?? next);
    },
  };
}
