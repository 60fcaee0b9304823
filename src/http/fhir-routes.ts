import { Transform, type TransformCallback } from 'node:stream';
import express from 'express';
import { importJWK, type JWK } from 'jose';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { countsOf } from '../fhir/apply.js';
import { NdjsonError } from '../fhir/ndjson.js';
import { importNdjson } from '../fhir/ndjson-import.js';
import { patientStoreSink } from '../fhir/patient-sink.js';
import { refusedEndpoint } from '../adapters/guarded-http.js';
import { listFhirRuns, MAX_RUNS_LISTED, recordFhirRun, type FhirRunStatus } from '../fhir/run-store.js';
import { getFhirSource, mrnSystemOf, putFhirSource } from '../fhir/source-store.js';
import { syncFhirSource } from '../fhir/sync.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { badRequest, zodProblems } from './responses.js';

/**
 * Import from an EHR (FHIR R4), for a practice's admins:
 * - `POST /api/fhir/import?resource=Patient|Appointment`: a Bulk Data NDJSON file as the body
 *   (`application/x-ndjson` or `application/fhir+ndjson`), streamed, never held whole;
 * - `PUT /api/fhir/source` / `GET /api/fhir/source`: the FHIR server connection and its schedule
 *   (the private key goes in, never comes out);
 * - `POST /api/fhir/sync`: the server synced now;
 * - `GET /api/fhir/runs`: the latest runs, server syncs and NDJSON files alike (counts, status).
 * Every change is audited with counts only.
 */

/** The largest NDJSON body taken (a bigger export: split it by resource, or sync from the server). */
export const MAX_NDJSON_BYTES = 512 * 1024 * 1024;
export const NDJSON_TYPES = ['application/x-ndjson', 'application/fhir+ndjson', 'application/ndjson'] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function parsedUrl(u: string): URL | null {
  try {
    return new URL(u);
  } catch {
    return null;
  }
}

/** https, or http to this machine only outside production (a test double): a token or a key never crosses a network in clear. */
const EndpointUrl = z
  .url({ protocol: /^https?$/ })
  .max(500)
  .refine((u) => {
    const url = parsedUrl(u);
    return !url || url.protocol === 'https:' || LOOPBACK_HOSTS.has(url.hostname);
  }, { message: 'must be https (http only to a loopback address)' })
  .refine((u) => {
    const url = parsedUrl(u);
    return !url || (!url.search && !url.hash && !url.username && !url.password);
  }, { message: 'must not carry a query, a fragment or credentials' });

const PRINTABLE = /^[\x21-\x7e]+$/;

/** A private JWK (EC P-384 or RSA) with its key id; checked for real by importing it for the algorithm. */
const PrivateJwk = z.looseObject({
  kty: z.enum(['EC', 'RSA']),
  kid: z.string().min(1).max(200).regex(PRINTABLE, { message: 'expected printable characters' }),
  d: z.string().min(1, { message: 'a private key is required (the JWK has no d)' }),
});

export const FhirSourceBody = z.strictObject({
  baseUrl: EndpointUrl.meta({ description: 'the FHIR R4 base URL, e.g. https://ehr.example.org/fhir/r4' }),
  tokenUrl: EndpointUrl.meta({ description: "the server's SMART token endpoint" }),
  clientId: z.string().min(1).max(200).regex(PRINTABLE, { message: 'expected printable characters' }),
  mrnSystem: z.string().min(1).max(500).regex(PRINTABLE, { message: 'expected a URI or urn:oid' }).meta({ description: 'the identifier system whose value is the MRN' }),
  privateKey: PrivateJwk.meta({ description: 'the private JWK registered (as its public half) with the EHR; stored encrypted, never returned' }),
  algorithm: z.enum(['RS384', 'ES384']),
  intervalMinutes: z.number().int().min(5).max(10_080).nullable().meta({ description: 'minutes between scheduled syncs; null: only POST /api/fhir/sync' }),
});

export const FhirImportQuery = z.strictObject({
  resource: z.enum(['Patient', 'Appointment']),
  dryRun: z.enum(['true', 'false']).optional(),
  mrnSystem: z.string().min(1).max(500).regex(PRINTABLE, { message: 'expected a URI or urn:oid' }).optional().meta({ description: "the MRN's identifier system; defaults to the source's" }),
});

export const FhirRunsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_RUNS_LISTED).default(50),
});

class BodyTooLarge extends Error {}

/** Passes the body through, failing once it passes `max` bytes. */
function capped(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > max) cb(new BodyTooLarge('body too large'));
      else cb(null, chunk);
    },
  });
}

async function keyFitsAlgorithm(jwk: JWK, algorithm: string): Promise<boolean> {
  try {
    await importJWK(jwk, algorithm);
    return true;
  } catch {
    return false;
  }
}

export function fhirRouter(services: Services): express.Router {
  const router = express.Router();

  router.put('/fhir/source', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const body = FhirSourceBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const { privateKey, ...rest } = body.data;
    // Plain http and loopback addresses are for the loopback doubles of development and tests;
    // private, link-local (metadata) and reserved addresses never (and again after DNS, at each sync).
    const allowLoopback = services.config.env !== 'production';
    for (const field of ['baseUrl', 'tokenUrl'] as const) {
      const problem = refusedEndpoint(rest[field], allowLoopback);
      if (problem) return badRequest(res, `${field}: ${problem}`);
    }
    if (!(await keyFitsAlgorithm(privateKey as JWK, rest.algorithm))) return badRequest(res, `privateKey: not a private key usable with ${rest.algorithm}`);
    const { change, source } = await putFhirSource(scope, services.keyring, { ...rest, privateKeyJwk: JSON.stringify(privateKey), keyId: privateKey.kid }, services.clock());
    await services.audit({
      action: AuditAction.AdminFhirSourceUpdated,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: scope.practiceId,
      details: { change, algorithm: rest.algorithm, intervalMinutes: rest.intervalMinutes },
    });
    res.status(change === 'created' ? 201 : 200).json(source);
  });

  router.get('/fhir/source', async (req, res) => {
    const scope = await permit(services, req, res, ['admin', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const source = await getFhirSource(scope);
    if (!source) return void res.status(404).json({ error: 'not_found', message: 'no FHIR source: PUT /api/fhir/source' });
    res.json(source);
  });

  router.post('/fhir/sync', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const outcome = await syncFhirSource(services, scope, { trigger: 'api', actor: actorOf(res), sink: patientStoreSink });
    if (outcome.ok) return void res.json(outcome);
    const status = outcome.reason === 'not_configured' ? 404 : outcome.reason === 'already_running' ? 409 : 502;
    res.status(status).json({ error: outcome.reason === 'not_configured' ? 'not_found' : outcome.reason === 'already_running' ? 'conflict' : 'sync_failed', reason: outcome.reason, message: outcome.message });
  });

  router.post('/fhir/import', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const query = FhirImportQuery.safeParse(req.query);
    if (!query.success) return badRequest(res, query.error.issues.map((i) => `query.${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    const type = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!(NDJSON_TYPES as readonly string[]).includes(type)) return badRequest(res, `content-type: expected ${NDJSON_TYPES.join(' or ')}`);
    const mrnSystem = query.data.mrnSystem ?? (await mrnSystemOf(scope));
    if (!mrnSystem) return badRequest(res, 'query.mrnSystem: required while the practice has no FHIR source (PUT /api/fhir/source)');
    const body = req.pipe(capped(MAX_NDJSON_BYTES));
    req.once('error', (err) => body.destroy(err));
    const startedAt = services.clock();
    // The file's run, beside the server's syncs (GET /api/fhir/runs): counts and a reason code only.
    const recordRun = (status: FhirRunStatus, reason: string | null, counts: Record<string, unknown>): Promise<string> =>
      recordFhirRun(scope, { kind: 'ndjson', trigger: 'api', resourceType: query.data.resource, status, reason, counts, startedAt, finishedAt: services.clock() });
    try {
      const report = await importNdjson(scope, services.keyring, body, {
        resourceType: query.data.resource,
        mrnSystem,
        dryRun: query.data.dryRun === 'true',
        now: services.clock(),
        sink: patientStoreSink,
      });
      const runId = await recordRun(report.dryRun ? 'dry_run' : 'complete', null, { ...countsOf(report) });
      await services.audit({
        action: AuditAction.FhirImported,
        actor: actorOf(res),
        practiceId: scope.practiceId,
        details: { resourceType: report.resourceType, dryRun: report.dryRun, committed: report.committed, ...countsOf(report) },
      });
      res.json({ ...report, runId });
    } catch (err) {
      if (err instanceof NdjsonError) {
        await recordRun('refused', 'bad_line', { line: err.line });
        return badRequest(res, `line ${err.line}: ${err.reason}; nothing was imported`);
      }
      if (err instanceof BodyTooLarge) {
        await recordRun('refused', 'too_large', {});
        return void res.status(413).json({ error: 'too_large', message: `the body is over ${MAX_NDJSON_BYTES} bytes; nothing was imported` });
      }
      throw err;
    }
  });

  router.get('/fhir/runs', async (req, res) => {
    const scope = await permit(services, req, res, ['admin', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const query = FhirRunsQuery.safeParse(req.query);
    if (!query.success) return badRequest(res, query.error.issues.map((i) => `query.${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    res.json({ runs: await listFhirRuns(scope, query.data.limit) });
  });

  return router;
}
