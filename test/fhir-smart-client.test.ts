import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSmartClient, FhirSyncError, type SmartClient } from '../src/fhir/smart-client.js';
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

function client(): SmartClient {
  return createSmartClient({
    baseUrl: fhir.baseUrl,
    tokenUrl: fhir.tokenUrl,
    clientId: CLIENT_ID,
    privateKeyJwk: JSON.stringify(keys.privateJwk),
    keyId: keys.kid,
    algorithm: 'RS384',
    clock: () => now,
  });
}

async function all(c: SmartClient, since: string | null = null): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of c.search('Patient', since, 10)) ids.push(...page.map((r) => r.id ?? ''));
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
    const c = createSmartClient({ baseUrl: fhir.baseUrl, tokenUrl: fhir.tokenUrl, clientId: CLIENT_ID, privateKeyJwk: JSON.stringify(other.privateJwk), keyId: keys.kid, algorithm: 'RS384', clock: () => now });
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
