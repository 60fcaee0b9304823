import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import ts from 'typescript';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { migrateToLatest } from '../src/adapters/migrate.js';

/**
 * src/adapters/db-schema.ts is written by hand; this test keeps it honest. It migrates a fresh
 * schema, reads every table's columns from information_schema, and compares table names, column
 * names and nullability with the Kysely `Database` interface as the TypeScript compiler sees it.
 */

const SCHEMA_FILE = path.resolve(import.meta.dirname, '../src/adapters/db-schema.ts');
/** Kysely's own bookkeeping: not part of `Database`. */
const MIGRATOR_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

interface ColumnShape {
  nullable: boolean;
}
type SchemaShape = Record<string, Record<string, ColumnShape>>;

/** What `select` gives for a column: a ColumnType's (and Generated's) select half, else the type itself. */
function selectType(checker: ts.TypeChecker, t: ts.Type, at: ts.Node): ts.Type {
  const select = t.getProperty('__select__');
  return select ? checker.getTypeOfSymbolAtLocation(select, at) : t;
}

function includesNull(t: ts.Type): boolean {
  const parts = t.isUnion() ? t.types : [t];
  return parts.some((p) => (p.flags & ts.TypeFlags.Null) !== 0);
}

/** The `Database` interface of a schema file, read with the compiler: tables → columns → nullability. */
function declaredShape(file: string): SchemaShape {
  const program = ts.createProgram([file], { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022 });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`cannot read ${file}`);
  const database = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'Database');
  if (!database) throw new Error(`no Database interface in ${file}`);
  const shape: SchemaShape = {};
  for (const table of checker.getTypeAtLocation(database).getProperties()) {
    const columns: Record<string, ColumnShape> = {};
    const tableType = checker.getTypeOfSymbolAtLocation(table, database);
    for (const column of tableType.getProperties()) {
      const declared = checker.getTypeOfSymbolAtLocation(column, database);
      const optional = (column.flags & ts.SymbolFlags.Optional) !== 0;
      columns[column.name] = { nullable: optional || includesNull(selectType(checker, declared, database)) };
    }
    shape[table.name] = columns;
  }
  return shape;
}

async function migratedShape(db: Db, schema: string): Promise<SchemaShape> {
  const rows = await sql<{ table_name: string; column_name: string; is_nullable: 'YES' | 'NO' }>`
    SELECT c.table_name, c.column_name, c.is_nullable
      FROM information_schema.columns c
      JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = ${schema} AND t.table_type = 'BASE TABLE'
     ORDER BY c.table_name, c.ordinal_position`.execute(db);
  const shape: SchemaShape = {};
  for (const r of rows.rows) {
    if (MIGRATOR_TABLES.has(r.table_name)) continue;
    (shape[r.table_name] ??= {})[r.column_name] = { nullable: r.is_nullable === 'YES' };
  }
  return shape;
}

/** Every difference between two shapes, as sentences a reader can act on (empty when they agree). */
function drift(declared: SchemaShape, migrated: SchemaShape): string[] {
  const out: string[] = [];
  for (const table of Object.keys(migrated).sort()) {
    const d = declared[table];
    if (!d) {
      out.push(`table ${table}: created by the migrations, missing from Database in db-schema.ts`);
      continue;
    }
    const m = migrated[table] ?? {};
    for (const column of Object.keys(m).sort()) {
      const dc = d[column];
      const mc = m[column];
      if (!dc) out.push(`${table}.${column}: in the migrated table, missing from db-schema.ts`);
      else if (mc && dc.nullable !== mc.nullable) out.push(`${table}.${column}: ${mc.nullable ? 'nullable' : 'NOT NULL'} in the database, ${dc.nullable ? 'nullable' : 'not nullable'} in db-schema.ts`);
    }
    for (const column of Object.keys(d).sort()) if (!(column in m)) out.push(`${table}.${column}: in db-schema.ts, not in the migrated table`);
  }
  for (const table of Object.keys(declared).sort()) if (!(table in migrated)) out.push(`table ${table}: in db-schema.ts, not created by the migrations`);
  return out;
}

const schema = `t_schema_drift_${randomBytes(4).toString('hex')}`;
let db: Db;

beforeAll(async () => {
  db = createDb(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', schema, 1);
  await migrateToLatest(db, schema);
});
afterAll(async () => {
  await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db);
  await db.destroy();
});

describe('db-schema.ts against the migrations', () => {
  it('names every table and column the migrations create, with the same nullability', async () => {
    const declared = declaredShape(SCHEMA_FILE);
    const migrated = await migratedShape(db, schema);
    // The reader itself must see something, or an empty comparison would pass.
    expect(Object.keys(migrated).length).toBeGreaterThan(20);
    expect(Object.keys(declared).sort()).toContain('practices');
    expect(declared.practices?.fallback_number).toEqual({ nullable: true });
    expect(declared.practices?.voicemail_retention_days).toEqual({ nullable: false });
    expect(drift(declared, migrated)).toEqual([]);
  });

  it('reports a column the interface lacks, one it invents, a table it lacks and a nullability mismatch', () => {
    const migrated: SchemaShape = { a: { id: { nullable: false }, note: { nullable: true } }, b: { id: { nullable: false } } };
    const declared: SchemaShape = { a: { id: { nullable: true }, extra: { nullable: false } } };
    expect(drift(declared, migrated)).toEqual([
      'a.id: NOT NULL in the database, nullable in db-schema.ts',
      'a.note: in the migrated table, missing from db-schema.ts',
      'a.extra: in db-schema.ts, not in the migrated table',
      'table b: created by the migrations, missing from Database in db-schema.ts',
    ]);
  });
});
