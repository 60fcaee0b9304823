import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { seedDemoIfEmpty, DEMO } from '../src/practices/seed.js';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { auditWriter } from '../src/audit/store.js';
import type { Keyring } from '../src/adapters/keyring.js';
import { startHarness, type Harness } from './support/harness.js';

/** The demo seed: all or nothing, and once, however many instances start on an empty database. */

let h: Harness;
beforeAll(async () => {
  h = await startHarness('seed', { SEED_DEMO: 'false' });
});
afterAll(async () => {
  await h.close();
});

const SEEDED_TABLES = ['practices', 'practice_numbers', 'patients', 'appointments', 'providers', 'oncall_schedules', 'escalation_policies', 'consent_disclosures'] as const;

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of SEEDED_TABLES) {
    const row = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(h.services.db);
    out[table] = Number(row.rows[0]?.n ?? 0);
  }
  return out;
}

beforeEach(async () => {
  // Start every test from an empty database (the audit log is append-only and stays).
  await sql`TRUNCATE ${sql.join(SEEDED_TABLES.map((t) => sql.table(t)))} CASCADE`.execute(h.services.db);
});

describe('demo seed', () => {
  it('is one transaction: a failure part-way leaves the database empty, so the next start seeds again', async () => {
    // A keyring that cannot encrypt fails the patient, after the practice and its number are in.
    const broken = { ...h.services.keyring, keyring: {} as Keyring['keyring'] };
    await expect(seedDemoIfEmpty(h.services.db, broken, h.services.audit)).rejects.toThrow();
    expect(Object.values(await counts()).every((n) => n === 0)).toBe(true);

    const practice = await seedDemoIfEmpty(h.services.db, h.services.keyring, h.services.audit, new Date('2026-11-26T03:00:00Z'));
    expect(practice).toMatchObject({ name: DEMO.name, fallbackNumber: DEMO.fallbackNumber, frontDeskNumber: DEMO.frontDeskNumber, languages: ['en', 'es'] });
    expect(await counts()).toMatchObject({ practices: 1, practice_numbers: 3, patients: 1, appointments: 1, providers: 3, consent_disclosures: 1 });
    // Built as a practice moving in is: the store functions' own audit events, written once the seed committed (none for the failed try).
    const audited = await h.services.db.selectFrom('audit_log').select(['action', 'actor']).where('practice_id', '=', practice?.id ?? '').orderBy('seq').execute();
    expect(audited).toEqual([
      { action: 'admin.practice_seeded', actor: 'system:seed' },
      { action: 'consent.disclosure_recorded', actor: 'system:seed' },
    ]);
    expect(practice?.accessNumber).toBe(DEMO.accessNumber);
    const lines = await h.services.db.selectFrom('practice_numbers').select(['e164', 'flow_id']).orderBy('e164').execute();
    expect(lines).toEqual([
      { e164: DEMO.number, flow_id: 'after-hours' },
      { e164: DEMO.dropCallbackNumber, flow_id: 'drop-callback' },
      { e164: DEMO.accessNumber, flow_id: 'after-hours' },
    ]);
    const policy = await h.services.db.selectFrom('escalation_policies').select(['name', 'repeat', 'page_interval_seconds', 'page_max_repeats', 'is_default']).executeTakeFirstOrThrow();
    expect(policy).toEqual({ name: 'Urgent calls', repeat: 1, page_interval_seconds: 600, page_max_repeats: 3, is_default: true });
  });

  it('instances starting together on an empty database seed it once, and none of them fails', async () => {
    const pools: Db[] = Array.from({ length: 4 }, () => createDb(h.config.database.url, h.schema, 2));
    try {
      const results = await Promise.all(pools.map((db) => seedDemoIfEmpty(db, h.services.keyring, auditWriter(db), new Date('2026-11-26T03:00:00Z'))));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    } finally {
      await Promise.all(pools.map((db) => db.destroy()));
    }
    expect(await counts()).toMatchObject({ practices: 1, practice_numbers: 3, patients: 1 });
  });

  it('does nothing when a practice exists', async () => {
    expect(await seedDemoIfEmpty(h.services.db, h.services.keyring, h.services.audit)).not.toBeNull();
    expect(await seedDemoIfEmpty(h.services.db, h.services.keyring, h.services.audit)).toBeNull();
    expect((await counts()).practices).toBe(1);
  });
});
