/**
 * A loopback stand-in for an EHR's FHIR R4 server under SMART Backend Services:
 * - `POST /auth/token`: client credentials with a `private_key_jwt` assertion, verified with jose
 *   against the client's registered public JWK (signature, algorithm, iss = sub = client id,
 *   aud = this token URL, exp at most five minutes after iat, a jti not seen before); answers a
 *   bearer token, or 401 `invalid_client`.
 * - `GET /fhir/Patient` and `GET /fhir/Appointment`: search with `_lastUpdated=ge<instant>` (or `gt`) and
 *   `_count`, sorted by meta.lastUpdated, paged through `Bundle.link[next]` (`_offset`); the
 *   bearer token is required (401 without).
 * It records every request it was asked, and can point its next links at another origin.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import type { Bundle, Resource } from '@medplum/fhirtypes';

export interface FhirDoubleRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorized: boolean;
  status: number;
  /** Token requests: why the assertion was refused. */
  refusal?: string;
}

export interface FhirDouble {
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  requests: FhirDoubleRequest[];
  /** Adds or replaces resources (by type and id); `lastUpdated` becomes their meta.lastUpdated. */
  put(resources: Resource[], lastUpdated: string): void;
  /** Next links point at this origin instead of the server's own (a server sending us elsewhere). */
  nextLinksTo(origin: string | null): void;
  /** Searches answer this status from now on (null: answer normally). */
  failSearches(status: number | null): void;
  /** The next request for a later page (a next link) answers this status, once: a server that forgot its paging state. */
  expireNextLinks(status: number | null): void;
  close(): Promise<void>;
}

export interface ClientKeys {
  /** The private JWK (with kid and alg), as the practice's admin registers it with us. */
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
}

export async function makeClientKeys(alg: 'RS384' | 'ES384' = 'ES384'): Promise<ClientKeys> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `test-${randomBytes(4).toString('hex')}`;
  return { privateJwk: { ...(await exportJWK(privateKey)), kid, alg }, publicJwk: { ...(await exportJWK(publicKey)), kid, alg }, kid };
}

/** `maxCount`: the server's own page size cap, whatever `_count` asks (servers cap it). */
export async function startFhirDouble(opts: { clientId: string; publicJwk: JWK; clock: () => Date; maxCount?: number }): Promise<FhirDouble> {
  const requests: FhirDoubleRequest[] = [];
  const store = new Map<string, Resource>();
  const tokens = new Set<string>();
  const jtis = new Set<string>();
  let foreignOrigin: string | null = null;
  let searchFailure: number | null = null;
  let nextLinkFailure: number | null = null;
  let origin = '';

  const tokenUrl = (): string => `${origin}/auth/token`;

  async function checkAssertion(assertion: string): Promise<string | null> {
    try {
      const alg = opts.publicJwk.alg ?? 'ES384';
      const { payload } = await jwtVerify(assertion, opts.publicJwk, {
        algorithms: [alg],
        issuer: opts.clientId,
        subject: opts.clientId,
        audience: tokenUrl(),
        currentDate: opts.clock(),
        requiredClaims: ['exp', 'jti'],
      });
      if (typeof payload.exp !== 'number' || payload.exp - Math.floor(opts.clock().getTime() / 1000) > 300) return 'exp more than five minutes ahead';
      if (typeof payload.jti !== 'string' || jtis.has(payload.jti)) return 'jti missing or replayed';
      jtis.add(payload.jti);
      return null;
    } catch (err) {
      return (err as { code?: string }).code ?? 'unverifiable';
    }
  }

  function search(type: string, query: Record<string, string>): Bundle {
    const prefix = query._lastUpdated?.slice(0, 2);
    const since = prefix === 'gt' || prefix === 'ge' ? Date.parse(query._lastUpdated?.slice(2) ?? '') : null;
    const count = Math.min(Math.max(Number(query._count ?? 50), 1), opts.maxCount ?? 1000);
    const offset = Number(query._offset ?? 0);
    const matches = [...store.values()]
      .filter((r) => r.resourceType === type && (since === null || (prefix === 'ge' ? Date.parse(r.meta?.lastUpdated ?? '') >= since : Date.parse(r.meta?.lastUpdated ?? '') > since)))
      .sort((a, b) => Date.parse(a.meta?.lastUpdated ?? '') - Date.parse(b.meta?.lastUpdated ?? '') || (a.id ?? '').localeCompare(b.id ?? ''));
    const pageOf = matches.slice(offset, offset + count);
    const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: `${origin}/fhir/${type}?${new URLSearchParams(query).toString()}` }];
    if (offset + count < matches.length) {
      const next = new URLSearchParams({ ...query, _offset: String(offset + count) });
      link.push({ relation: 'next', url: `${foreignOrigin ?? origin}/fhir/${type}?${next.toString()}` });
    }
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: matches.length,
      link,
      entry: pageOf.map((resource) => ({ fullUrl: `${origin}/fhir/${type}/${resource.id ?? ''}`, resource, search: { mode: 'match' } })),
    };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', origin);
        const query = Object.fromEntries(url.searchParams.entries());
        const rec: FhirDoubleRequest = { method: req.method ?? '', path: url.pathname, query, authorized: false, status: 0 };
        requests.push(rec);
        const send = (status: number, body: unknown, type = 'application/json'): void => {
          rec.status = status;
          res.writeHead(status, { 'content-type': type });
          res.end(JSON.stringify(body));
        };
        if (req.method === 'POST' && url.pathname === '/auth/token') {
          const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
          if (form.get('grant_type') !== 'client_credentials' || form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
            return send(400, { error: 'invalid_request' });
          }
          const refusal = await checkAssertion(form.get('client_assertion') ?? '');
          if (refusal) {
            rec.refusal = refusal;
            return send(401, { error: 'invalid_client', error_description: `assertion refused: ${refusal}` });
          }
          const token = randomBytes(16).toString('hex');
          tokens.add(token);
          rec.authorized = true;
          return send(200, { access_token: token, token_type: 'bearer', expires_in: 300, scope: form.get('scope') ?? '' });
        }
        const match = /^\/fhir\/(Patient|Appointment)$/.exec(url.pathname);
        if (req.method !== 'GET' || !match?.[1]) return send(404, { resourceType: 'OperationOutcome' });
        rec.authorized = tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (!rec.authorized) return send(401, { resourceType: 'OperationOutcome' });
        if (searchFailure !== null) return send(searchFailure, { resourceType: 'OperationOutcome' });
        if (nextLinkFailure !== null && query._offset !== undefined) {
          const status = nextLinkFailure;
          nextLinkFailure = null;
          return send(status, { resourceType: 'OperationOutcome' });
        }
        send(200, search(match[1], query), 'application/fhir+json');
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl: `${origin}/fhir`,
    tokenUrl: tokenUrl(),
    clientId: opts.clientId,
    requests,
    put(resources, lastUpdated) {
      for (const r of resources) store.set(`${r.resourceType}/${r.id ?? ''}`, { ...r, meta: { ...r.meta, lastUpdated } } as Resource);
    },
    nextLinksTo(o) {
      foreignOrigin = o;
    },
    failSearches(status) {
      searchFailure = status;
    },
    expireNextLinks(status) {
      nextLinkFailure = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
