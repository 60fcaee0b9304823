import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { FhirResourceType, SigningAlgorithm } from './source-store.js';

/**
 * A FHIR R4 server's search API under SMART Backend Services authorisation
 * (https://hl7.org/fhir/smart-app-launch/backend-services.html): the client signs a short-lived
 * JWT assertion with its private key (`private_key_jwt`, RS384 or ES384, with its `kid`), trades it
 * at the token endpoint for an access token (client credentials), and searches with that token,
 * paging through `Bundle.link[relation=next]`.
 *
 * Every request is bounded in time. A next link must stay on the base URL's origin (a server
 * pointing us elsewhere would get our token). Errors carry a reason code and a message that
 * never repeats a server's body (it could quote PHI); the OAuth error code is kept, it is not PHI.
 */

export type FhirSyncFailure =
  | 'token_refused'
  | 'token_unreachable'
  | 'search_refused'
  | 'search_unreachable'
  | 'bad_bundle'
  | 'foreign_next_link'
  | 'too_many_pages'
  | 'bad_key';

export class FhirSyncError extends Error {
  constructor(
    readonly reason: FhirSyncFailure,
    message: string,
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
  /** Bound on pages per search, against a server whose next links never end. */
  maxPages?: number;
}

/** The assertion lives at most this long (SMART: no more than five minutes). */
export const ASSERTION_LIFETIME_S = 300;
/** A token is renewed this long before the server said it expires. */
const TOKEN_SLACK_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_MAX_PAGES = 2_000;
const SCOPES = 'system/Patient.read system/Appointment.read';

export interface SmartClient {
  /** The resources of `type` updated after `since` (all, when null), page by page. */
  search(type: FhirResourceType, since: string | null, pageSize: number): AsyncGenerator<Resource[]>;
}

/** An OAuth error code is a short token (`invalid_client`): kept; anything else is not repeated. */
function oauthErrorCode(body: unknown): string | null {
  const code = body && typeof body === 'object' ? (body as { error?: unknown }).error : null;
  return typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : null;
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function createSmartClient(opts: SmartClientOptions): SmartClient {
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxPages = opts.maxPages ?? DEFAULT_MAX_PAGES;
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

  async function accessToken(): Promise<string> {
    if (token && token.until > opts.clock().getTime()) return token.value;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: SCOPES,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
    });
    let res: Response;
    try {
      res = await fetch(opts.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw new FhirSyncError('token_unreachable', `the token endpoint did not answer (${(err as Error).name})`);
    }
    const body = await readJson(res);
    if (!res.ok) {
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
    let res: Response;
    try {
      res = await fetch(url, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/fhir+json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    } catch (err) {
      throw new FhirSyncError('search_unreachable', `the FHIR server did not answer a search (${(err as Error).name})`);
    }
    const body = await readJson(res);
    if (!res.ok) throw new FhirSyncError('search_refused', `the FHIR server refused a search (HTTP ${res.status})`);
    if (!body || typeof body !== 'object' || (body as { resourceType?: unknown }).resourceType !== 'Bundle') {
      throw new FhirSyncError('bad_bundle', 'a search answered something other than a Bundle');
    }
    return body as Bundle;
  }

  return {
    async *search(type, since, pageSize) {
      const first = new URL(`${base.toString().replace(/\/+$/, '')}/${type}`);
      if (since) first.searchParams.set('_lastUpdated', `gt${since}`);
      first.searchParams.set('_count', String(pageSize));
      first.searchParams.set('_sort', '_lastUpdated');
      let url: string | null = first.toString();
      const seen = new Set<string>();
      for (let pages = 0; url; pages += 1) {
        if (pages >= maxPages || seen.has(url)) throw new FhirSyncError('too_many_pages', `the ${type} search did not end within ${maxPages} pages`);
        seen.add(url);
        const bundle = await page(url);
        // Matches only: `include` entries (another type) and `outcome` entries are not ours to import.
        const resources = (bundle.entry ?? [])
          .filter((e) => e && typeof e === 'object' && (e.search?.mode === undefined || e.search.mode === 'match'))
          .map((e) => e.resource)
          .filter((r): r is Resource => !!r && typeof r === 'object' && r.resourceType === type);
        yield resources;
        url = nextUrl(bundle);
      }
    },
  };
}
