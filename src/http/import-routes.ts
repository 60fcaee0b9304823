import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import type { ApiRole } from '../auth/api-keys.js';
import type { ImportKind } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import { acceptImport } from '../patients/import-requests.js';
import { ImportEntriesQuery, ImportListQuery, listImports, readImport } from '../patients/import-store.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';

/**
 * CSV imports in the admin API. `POST /api/patients/import` and `POST /api/appointments/import`
 * store the upload (encrypted) and queue the import, answering 202 with its id at once: no
 * database connection is held while the file arrives, and no request waits on 100,000 rows.
 * `GET /api/imports/:id` follows it (status, rows read, then the report, its entries a page at a
 * time); `GET /api/imports` lists the practice's recent ones.
 */

const ADMIN: readonly ApiRole[] = ['admin'];

/** A CSV import's body: streamed, never buffered, up to this many bytes (about 400,000 patient rows). */
export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;

/** Without `dryRun=false` an import only reads and reports. */
export const ImportQuery = z.strictObject({ dryRun: z.enum(['true', 'false']).default('true') });
export const ImportIdParams = z.object({ id: z.uuid({ message: 'expected a UUID' }) });

function tooLarge(res: express.Response): void {
  res.status(413).json({ error: 'too_large', message: `body: larger than ${IMPORT_MAX_BYTES} bytes` });
}

/** The CSV import routes: text/csv streamed into encrypted storage, the import queued; 202 with its id. */
function importRoute(services: Services, kind: ImportKind) {
  return async (req: express.Request, res: express.Response): Promise<void> => {
    const scope = await permit(services, req, res, ADMIN, principalOf(res).practiceId);
    if (!scope) return;
    const query = ImportQuery.safeParse(req.query);
    if (!query.success) return badRequest(res, zodProblems(query.error));
    if (!req.is('text/csv')) return badRequest(res, 'content-type: expected text/csv');
    if (Number(req.get('content-length') ?? 0) > IMPORT_MAX_BYTES) return tooLarge(res);
    const dryRun = query.data.dryRun === 'true';
    const actor = actorOf(res);
    const accepted = await acceptImport(services, scope, { kind, dryRun, body: req, actor, maxBytes: IMPORT_MAX_BYTES });
    if (!accepted.ok) {
      if (accepted.reason === 'too_large') {
        // Drain what the client still sends, so that it reads the answer.
        req.resume();
        return tooLarge(res);
      }
      res.status(503).json({ error: 'queue_unavailable', message: 'the import could not be queued; nothing was imported, try again', id: accepted.id });
      return;
    }
    await services.audit({ action: AuditAction.AdminImportRequested, actor, practiceId: scope.practiceId, subjectId: accepted.id, details: { kind, dryRun, bytes: accepted.bytes } });
    res
      .status(202)
      .location(`/api/imports/${accepted.id}`)
      .json({ id: accepted.id, kind, dryRun, status: 'queued' });
  };
}

export function importRouter(services: Services): express.Router {
  const router = express.Router();

  router.post('/patients/import', importRoute(services, 'patients'));
  router.post('/appointments/import', importRoute(services, 'appointments'));

  router.get('/imports', async (req, res) => {
    const scope = await permit(services, req, res, ADMIN, principalOf(res).practiceId);
    if (!scope) return;
    const q = ImportListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    res.json({ imports: await listImports(scope, q.data), limit: q.data.limit, offset: q.data.offset });
  });

  router.get('/imports/:id', async (req, res) => {
    const params = ImportIdParams.safeParse(req.params);
    if (!params.success) return badRequest(res, zodProblems(params.error));
    const scope = await permit(services, req, res, ADMIN, principalOf(res).practiceId, params.data.id);
    if (!scope) return;
    const q = ImportEntriesQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const found = await readImport(scope, params.data.id, q.data);
    if (!found) return notFound(res);
    res.json(found);
  });

  return router;
}
