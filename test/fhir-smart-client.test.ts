import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { refusedEndpoint, type Lookup } from '../src/adapters/guarded-http.js';
import { createSmartClient, FhirSyncError, type SmartClient, type SmartClientOptions } from '../src/fhir/smart-client.js';
import { makeClientKeys, startFhirDouble, type ClientKeys, type FhirDouble } from './support/fhir-double.js';

/**
 * The SMART Backend Services client against the loopback FHIR server, without the service: an
 * RS384 assertion the server verifies, one token for every page of a run until it nears its
 * expiry (then a new assertion), and a server that answers a search with an error.
 */

const CLIENT_ID = 'smart-client-test';
let now = new Date('2026-11-26T03:00:00Z');
let keys: ClientKeys;
let fhir: FhirDouble;

const patients = (n: number): Patient[] => Array.from({ length: n }, (_, i) => ({ resourceType: 'Patient', id: `p${i}`, birthDate: '1980-01-01' }));

function client(over: Partial<SmartClientOptions> = {}): SmartClient {
  return createSmartClient({
    baseUrl: fhir.baseUrl,
    tokenUrl: fhir.tokenUrl,
    clientId: CLIENT_ID,
    privateKeyJwk: JSON.stringify(keys.privateJwk),
    keyId: keys.kid,
    algorithm: 'RS384',
    clock: () => now,
    allowLoopback: true,
    ...over,
  });
}

/** A DNS stand-in: every name resolves to `address`. */
function resolvingTo(address: string): Lookup {
  const lookup = (_host: string, _opts: unknown, cb: (err: null, addresses: LookupAddress[]) => void): void => cb(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
  return lookup as unknown as Lookup;
}

async function all(c: SmartClient, since: string | null = null): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of c.search('Patient', since, 10)) ids.push(...page.resources.map((r) => r.id ?? ''));
  return ids;
}

beforeAll(async () => {
  keys = await makeClientKeys('RS384');
  fhir = await startFhirDouble({ clientId: CLIENT_ID, publicJwk: keys.publicJwk, clock: () => now, maxCount: 2 });
  fhir.put(patients(5), '2026-11-20T10:00:00Z');
});
afterAll(async () => {
  await fhir.close();
});

describe('SMART Backend Services client', () => {
  it('an RS384 assertion gets a token that serves every page of the search', async () => {
    const c = client();
    expect(await all(c)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(fhir.requests.map((r) => [r.path, r.status])).toEqual([
      ['/auth/token', 200],
      ['/fhir/Patient', 200],
      ['/fhir/Patient', 200],
      ['/fhir/Patient', 200],
    ]);
  });

  it('the token is kept until a minute before it expires, then a new assertion is signed', async () => {
    const c = client();
    fhir.requests.length = 0;
    await all(c);
    now = new Date(now.getTime() + 3 * 60_000); // 3 of the token's 5 minutes: still kept
    await all(c);
    now = new Date(now.getTime() + 60_000 + 1); // past 4 minutes: renewed
    await all(c);
    expect(fhir.requests.filter((r) => r.path === '/auth/token').length).toBe(2);
  });

  it('an assertion signed with another key is refused with a reason, and nothing is searched', async () => {
    const other = await makeClientKeys('RS384');
    const c = createSmartClient({ baseUrl: fhir.baseUrl, tokenUrl: fhir.tokenUrl, clientId: CLIENT_ID, privateKeyJwk: JSON.stringify(other.privateJwk), keyId: keys.kid, algorithm: 'RS384', clock: () => now, allowLoopback: true });
    fhir.requests.length = 0;
    await expect(all(c)).rejects.toMatchObject({ reason: 'token_refused' });
    expect(fhir.requests.map((r) => r.path)).toEqual(['/auth/token']);
  });

  it('a search the server refuses fails with the status, never the body', async () => {
    fhir.failSearches(500);
    try {
      const err = await all(client()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FhirSyncError);
      expect((err as FhirSyncError).message).toBe('the FHIR server refused a search (HTTP 500)');
    } finally {
      fhir.failSearches(null);
    }
  });
});

describe('server-side request forgery: where the client may connect', () => {
  const port = (): string => new URL(fhir.baseUrl).port;

  it('loopback is refused unless allowed (production): as an address, and as a name after DNS; nothing is sent', async () => {
    fhir.requests.length = 0;
    await expect(all(client({ allowLoopback: false }))).rejects.toMatchObject({ reason: 'address_refused', message: 'the token endpoint is at a loopback address: refused' });
    const byName = { baseUrl: `http://localhost:${port()}/fhir`, tokenUrl: `http://localhost:${port()}/auth/token`, allowLoopback: false };
    await expect(all(client(byName))).rejects.toMatchObject({ reason: 'address_refused' });
    expect(fhir.requests).toEqual([]);
  });

  it('a name resolving to the metadata service, a private or an IPv4-mapped address is refused even where loopback is allowed', async () => {
    for (const address of ['169.254.169.254', '10.1.2.3', '192.168.0.7', 'fd00:ec2::254', '::ffff:169.254.169.254', '0.0.0.0']) {
      const c = client({ baseUrl: `http://ehr.example.test:${port()}/fhir`, tokenUrl: `http://ehr.example.test:${port()}/auth/token`, lookup: resolvingTo(address) });
      await expect(all(c), address).rejects.toMatchObject({ reason: 'address_refused' });
    }
  });

  it('the address the guard checked is the one connected to: a name resolving to the (allowed) loopback double is searched', async () => {
    const c = client({ baseUrl: `http://ehr.example.test:${port()}/fhir`, tokenUrl: fhir.tokenUrl, lookup: resolvingTo('127.0.0.1') });
    fhir.requests.length = 0;
    // The first page is answered; its next link names 127.0.0.1, another origin than the name: refused.
    await expect(all(c)).rejects.toMatchObject({ reason: 'foreign_next_link' });
    expect(fhir.requests.map((r) => [r.path, r.status, r.authorized])).toEqual([
      ['/auth/token', 200, true],
      ['/fhir/Patient', 200, true],
    ]);
  });

  it('a redirect is never followed: the token endpoint answering 307 is a refusal, and the assertion goes nowhere else', async () => {
    const redirector = http.createServer((_req, res) => {
      res.writeHead(307, { location: fhir.tokenUrl });
      res.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    try {
      fhir.requests.length = 0;
      const tokenUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/token`;
      await expect(all(client({ tokenUrl }))).rejects.toMatchObject({ reason: 'token_refused', message: 'the token endpoint refused the client assertion (HTTP 307)' });
      expect(fhir.requests).toEqual([]);
    } finally {
      redirector.closeAllConnections();
      await new Promise<void>((resolve) => redirector.close(() => resolve()));
    }
  });

  it('endpoints are checked before they are stored: https, and no private, link-local or reserved literal', () => {
    const cases: Array<[string, boolean, string | null]> = [
      ['https://ehr.example.org/fhir/r4', false, null],
      ['http://127.0.0.1:8080/fhir', true, null],
      ['http://localhost:8080/fhir', true, null],
      ['http://127.0.0.1:8080/fhir', false, 'must be https'],
      ['https://127.0.0.1/fhir', false, 'must not be a loopback address'],
      ['https://localhost/fhir', false, 'must not be a loopback address'],
      ['http://ehr.example.org/fhir', true, 'must be https (http only to a loopback address, in development and test)'],
      ['https://169.254.169.254/latest', true, 'must not be a private, link-local, metadata or reserved address'],
      ['https://[::ffff:a9fe:a9fe]/', true, 'must not be a private, link-local, metadata or reserved address'],
      ['https://172.16.4.4/fhir', false, 'must not be a private, link-local, metadata or reserved address'],
      ['https://100.64.0.1/fhir', false, 'must not be a private, link-local, metadata or reserved address'],
    ];
    for (const [url, allowLoopback, problem] of cases) expect(refusedEndpoint(url, allowLoopback), `${url} ${allowLoopback}`).toBe(problem);
  });
});
