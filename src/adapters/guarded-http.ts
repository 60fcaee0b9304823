import dns, { type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * Outbound HTTP to an address a practice's admin typed (its EHR's FHIR and token endpoints, its
 * OpenID provider's discovery, token, keys and userinfo endpoints): one guard for both,
 * guarded against server-side request forgery: the host's addresses are checked after DNS
 * resolution, inside the connection's own lookup (so the address checked is the one connected
 * to: a name that resolves elsewhere a second time gains nothing), and a private, loopback,
 * link-local (the cloud metadata service at 169.254.169.254), shared, multicast or reserved
 * address is refused before anything is sent. Loopback is allowed only when the caller says so
 * (development and test, against the loopback doubles). Redirects are never followed: a 3xx is
 * an answer like any other, and the caller treats it as a refusal.
 */

/** Addresses no EHR of a practice is reached at: ours, the cloud's, or nobody's. */
const REFUSED = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['169.254.0.0', 16], // link-local: the metadata service (169.254.169.254) lives here
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
] as const) {
  REFUSED.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128], // unspecified
  ['64:ff9b::', 96], // NAT64: an IPv4 address in disguise
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (AWS's IPv6 metadata address fd00:ec2::254 among them)
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  REFUSED.addSubnet(prefix, bits, 'ipv6');
}
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Why an address is refused, or null. An IPv4-mapped IPv6 address is judged as its IPv4 address. */
export function refusedAddress(address: string, allowLoopback: boolean): 'loopback' | 'private' | null {
  const family = net.isIP(address);
  if (family === 0) return 'private';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (LOOPBACK.check(address, type)) return allowLoopback ? null : 'loopback';
  return REFUSED.check(address, type) ? 'private' : null;
}

/** A host that is an address already (no DNS): `[::1]` loses its brackets. */
function literalAddress(hostname: string): string | null {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(bare) ? bare : null;
}

export class RefusedDestination extends Error {
  constructor(readonly why: 'loopback' | 'private') {
    super(`refused: the host is at a ${why === 'loopback' ? 'loopback' : 'private, link-local or reserved'} address`);
    this.name = 'RefusedDestination';
  }
}

export class ResponseTooLarge extends Error {
  constructor() {
    super('the answer is too large');
    this.name = 'ResponseTooLarge';
  }
}

export type Lookup = typeof dns.lookup;

export interface GuardedRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** The most bytes of answer read; beyond, ResponseTooLarge. */
  maxBytes: number;
  allowLoopback: boolean;
  /** DNS (a test's stand-in); the system resolver otherwise. */
  lookup?: Lookup;
}

export interface GuardedResponse {
  status: number;
  /** The body parsed as JSON, or null when it is not JSON. */
  json: unknown;
}

/** An answer as received: status, headers and the bytes of its body. */
interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A lookup that answers only addresses we may connect to: every address of the name is checked. */
function guardedLookup(resolve: Lookup, allowLoopback: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const list = Array.isArray(addresses) ? addresses : [];
      const refused = list.map((a) => refusedAddress(a.address, allowLoopback)).find((why) => why !== null);
      if (refused) return callback(new RefusedDestination(refused), '', 0);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, first.address, first.family);
    });
  };
}

/** One request to `url` (http or https), its address guarded; rejects with RefusedDestination before sending anything to a refused one. */
export async function guardedRequest(url: URL, req: GuardedRequest): Promise<GuardedResponse> {
  const res = await guardedExchange(url, req);
  let json: unknown = null;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch {
    json = null;
  }
  return { status: res.status, json };
}

/** Statuses whose answer has no body (a Response refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A `fetch` for clients that bring their own HTTP code (openid-client's `customFetch`): the same
 * guarded exchange (addresses checked inside the connection's lookup, no redirect followed, a
 * bounded answer), answered as a WHATWG Response.
 */
export function guardedFetch(opts: { allowLoopback: boolean; timeoutMs: number; maxBytes: number; lookup?: Lookup }): (url: string, init: { method: string; headers: Record<string, string>; body?: unknown }) => Promise<Response> {
  return async (url, init) => {
    const method = init.method.toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw new RefusedDestination('private');
    // Every URL is held to the endpoint rules an admin's address is (https; plain http only to loopback where allowed).
    if (refusedEndpoint(url, opts.allowLoopback) !== null) throw new RefusedDestination('private');
    const body = init.body === undefined || init.body === null ? undefined : init.body instanceof URLSearchParams ? init.body.toString() : typeof init.body === 'string' ? init.body : Buffer.from(init.body as Uint8Array).toString('utf8');
    const res = await guardedExchange(new URL(url), { method, headers: init.headers, ...(body !== undefined ? { body } : {}), timeoutMs: opts.timeoutMs, maxBytes: opts.maxBytes, allowLoopback: opts.allowLoopback, ...(opts.lookup ? { lookup: opts.lookup } : {}) });
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    return new Response(NO_BODY.has(res.status) ? null : new Uint8Array(res.body), { status: res.status, headers });
  };
}

async function guardedExchange(url: URL, req: GuardedRequest): Promise<RawResponse> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RefusedDestination('private');
  const literal = literalAddress(url.hostname);
  const literalRefusal = literal ? refusedAddress(literal, req.allowLoopback) : null;
  if (literalRefusal) throw new RefusedDestination(literalRefusal);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<RawResponse>((resolve, reject) => {
    const outgoing = client.request(
      url,
      {
        method: req.method,
        headers: req.headers,
        lookup: guardedLookup(req.lookup ?? dns.lookup, req.allowLoopback),
        signal: AbortSignal.timeout(req.timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > req.maxBytes) return void outgoing.destroy(new ResponseTooLarge());
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

const LOOPBACK_NAMES = /^(localhost|.+\.localhost)$/i;

/**
 * Why an endpoint an admin gives (a FHIR base or token URL) is refused before it is stored, or
 * null: https only, except plain http to this machine when loopback is allowed (development and
 * test); never an address literal in a private, link-local or reserved range, nor loopback
 * otherwise. A name is judged again at every connection, after DNS (guardedRequest).
 */
export function refusedEndpoint(raw: string, allowLoopback: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be a URL';
  }
  const literal = literalAddress(url.hostname);
  const loopbackHost = literal ? LOOPBACK.check(literal, net.isIP(literal) === 4 ? 'ipv4' : 'ipv6') : LOOPBACK_NAMES.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowLoopback && loopbackHost)) {
    return allowLoopback ? 'must be https (http only to a loopback address, in development and test)' : 'must be https';
  }
  if (loopbackHost && !allowLoopback) return 'must not be a loopback address';
  if (literal && refusedAddress(literal, allowLoopback)) return 'must not be a private, link-local, metadata or reserved address';
  return null;
}
