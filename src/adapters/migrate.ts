import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './postgres.js';
import { ensureSchema } from './postgres.js';
import * as m0001 from './migrations/0001-platform.js';
import * as m0002 from './migrations/0002-call-flows.js';
import * as m0003 from './migrations/0003-oncall.js';
import * as m0004 from './migrations/0004-voicemail.js';
import * as m0005 from './migrations/0005-rvm.js';
import * as m0006 from './migrations/0006-oncall-legs.js';
import * as m0007 from './migrations/0007-voicemail-upkeep.js';
import * as m0008 from './migrations/0008-verification-lockouts.js';
import * as m0009 from './migrations/0009-api-key-lifecycle.js';
import * as m0010 from './migrations/0010-audit-chains.js';
import * as m0011 from './migrations/0011-tenancy.js';
import * as m0012 from './migrations/0012-practice-lines.js';
import * as m0013 from './migrations/0013-patient-records.js';
import * as m0014 from './migrations/0014-fhir-sources.js';
import * as m0015 from './migrations/0015-practice-flows.js';
import * as m0016 from './migrations/0016-call-records.js';
import * as m0017 from './migrations/0017-imports.js';
import * as m0018 from './migrations/0018-fhir-sync-runs.js';
import * as m0020 from './migrations/0020-staff-accounts.js';
import * as m0021 from './migrations/0021-callback-tasks.js';
import * as m0022 from './migrations/0022-callback-number.js';
import * as m0023 from './migrations/0023-patient-texts.js';
import * as m0024 from './migrations/0024-practice-sso.js';
import * as m0025 from './migrations/0025-task-calls.js';
import * as m0026 from './migrations/0026-overnight-reports.js';
import * as m0027 from './migrations/0027-patient-text-keys.js';
import * as m0028 from './migrations/0028-communication-matrix.js';
import * as m0029 from './migrations/0029-sso-identities.js';
import * as m0031 from './migrations/0031-task-call-once.js';
import * as m0032 from './migrations/0032-outreach-sends.js';
import * as m0033 from './migrations/0033-patient-email.js';
import * as m0034 from './migrations/0034-outreach-replies.js';
import * as m0035 from './migrations/0035-patient-recall.js';
import * as m0037 from './migrations/0037-drop-appointments.js';
import * as m0038 from './migrations/0038-drop-dispatch.js';
import * as m0039 from './migrations/0039-sequences.js';
import * as m0043 from './migrations/0043-oncall-swaps.js';
import * as m0044 from './migrations/0044-drop-schedule.js';

/** Every migration, in order. Names sort the same way they apply. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-platform': m0001,
  '0002-call-flows': m0002,
  '0003-oncall': m0003,
  '0004-voicemail': m0004,
  '0005-rvm': m0005,
  '0006-oncall-legs': m0006,
  '0007-voicemail-upkeep': m0007,
  '0008-verification-lockouts': m0008,
  '0009-api-key-lifecycle': m0009,
  '0010-audit-chains': m0010,
  '0011-tenancy': m0011,
  '0012-practice-lines': m0012,
  '0013-patient-records': m0013,
  '0014-fhir-sources': m0014,
  '0015-practice-flows': m0015,
  '0016-call-records': m0016,
  '0017-imports': m0017,
  '0018-fhir-sync-runs': m0018,
  '0020-staff-accounts': m0020,
  '0021-callback-tasks': m0021,
  '0022-callback-number': m0022,
  '0023-patient-texts': m0023,
  '0024-practice-sso': m0024,
  '0025-task-calls': m0025,
  '0026-overnight-reports': m0026,
  '0027-patient-text-keys': m0027,
  '0028-communication-matrix': m0028,
  '0029-sso-identities': m0029,
  '0031-task-call-once': m0031,
  '0032-outreach-sends': m0032,
  '0033-patient-email': m0033,
  '0034-outreach-replies': m0034,
  '0035-patient-recall': m0035,
  '0037-drop-appointments': m0037,
  '0038-drop-dispatch': m0038,
  '0039-sequences': m0039,
  '0043-oncall-swaps': m0043,
  '0044-drop-schedule': m0044,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Kysely's migrator reads the catalog of every schema before it starts; a relation dropped meanwhile fails that read. */
// 42P01 a relation gone, 3F000 a schema gone, 42703 a column gone or not yet there (another
// schema's table altered while the migrator read the catalog).
const CATALOG_RACE_CODES: ReadonlySet<string> = new Set(['42P01', '3F000', '42703']);
const CATALOG_RACE_TRIES = 12;

function isCatalogRace(result: MigrationResultSet): boolean {
  // Before any migration ran (no result names one), and the error is a relation or schema gone.
  const code = (result.error as { code?: unknown } | undefined)?.code;
  return (result.results ?? []).length === 0 && typeof code === 'string' && CATALOG_RACE_CODES.has(code);
}

/**
 * Runs `migrate` again while it fails on a relation dropped beside it before any migration ran:
 * another schema's table dropped while the migrator listed them all (test schemas come and go
 * beside each other; a second service's deploy). Nothing of ours ran, so it is safe to repeat.
 */
export async function retryingCatalogRaces(migrate: () => Promise<MigrationResultSet>, pauseMs = 50): Promise<MigrationResultSet> {
  let result = await migrate();
  for (let tries = 1; result.error && isCatalogRace(result) && tries < CATALOG_RACE_TRIES; tries += 1) {
    await new Promise((r) => setTimeout(r, pauseMs * tries + Math.floor(Math.random() * pauseMs)));
    result = await migrate();
  }
  return result;
}

export async function migrateToLatest(db: Db, schema: string): Promise<string[]> {
  await ensureSchema(db, schema);
  const migrator = new Migrator({
    db,
    provider,
    migrationTableSchema: schema,
  });
  const result = await retryingCatalogRaces(() => migrator.migrateToLatest());
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const reason = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
