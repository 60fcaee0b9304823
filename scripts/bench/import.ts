/**
 * Bench "import": the patient CSV import (`importPatients` in ../../src/patients/patient-import.ts:
 * csv-parse streamed, zod per row, blind indexes, every identifier sealed with the Encryption SDK,
 * 500-row upserts in one transaction) of 100,000 generated patients, against a plain `COPY` of the
 * same file into a table of its columns (pg-copy-streams), in the same run and the same database.
 * Prints rows/s for both and the ratio (target ≥ 0.25). BENCH_IMPORT_ROWS sets a smaller file for
 * a quick look.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { importPatients } from '../../src/patients/patient-import.js';
import { tenantScope } from '../../src/tenancy/mint.js';
import { throwIfAborted } from './abort.js';
import type { Scope } from './scope.js';
import { startSeededService } from './seeded-service.js';
import { fixed, formatTable } from './table.js';
import type { Bench } from './types.js';

export const IMPORT_ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
const TARGET = 0.25;
const HEADER = 'mrn,first_name,last_name,date_of_birth,phone,home_phone,preferred_language,us_state,time_zone';

/** Writes the CSV file, streamed: a realistic mix (a third with a home number, a tenth in Spanish). */
async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(`${HEADER}\n`);
  for (let i = 0; i < rows; i += 1) {
    const dob = `19${String(40 + (i % 60)).padStart(2, '0')}-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`;
    const home = i % 3 === 0 ? `+1303${String(5_000_000 + i).padStart(7, '0')}` : '';
    const line = `B${i},Given${i},Family${i % 5000},${dob},+1202${String(5_000_000 + i).padStart(7, '0')},${home},${i % 10 === 0 ? 'es' : 'en'},${i % 20 === 0 ? 'FL' : ''},${i % 7 === 0 ? 'America/Chicago' : ''}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** The baseline: `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same file into a table of its columns. */
async function copyBaseline(url: string, schema: string, file: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${schema}"`);
    await client.query(`CREATE TABLE import_baseline (${HEADER.split(',').map((c) => `${c} text`).join(', ')})`);
    const started = process.hrtime.bigint();
    await pipeline(createReadStream(file), client.query(copyFrom('COPY import_baseline FROM STDIN WITH (FORMAT csv, HEADER true)')));
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    await client.end();
  }
}

async function run(scope: Scope): Promise<string[]> {
  const { config, services, practice, schema, dataDir } = await startSeededService(scope);

  const file = path.join(dataDir, 'patients.csv');
  console.log(`import: ${IMPORT_ROWS.toLocaleString('en-US')} patients; schema ${schema}`);
  await writeCsv(file, IMPORT_ROWS);
  throwIfAborted();

  const copySeconds = await copyBaseline(config.database.url, schema, file);
  throwIfAborted();
  const started = process.hrtime.bigint();
  const report = await importPatients(tenantScope(services, practice.id), services.keyring, createReadStream(file), { dryRun: false });
  const importSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const problems: string[] = [];
  if (!report.committed || report.created !== IMPORT_ROWS) problems.push(`import created ${report.created} of ${IMPORT_ROWS} rows (invalid ${report.invalid}, duplicate ${report.duplicate})`);
  const copyRate = IMPORT_ROWS / copySeconds;
  const importRate = IMPORT_ROWS / importSeconds;
  const ratio = importRate / copyRate;
  console.log('');
  console.log(
    formatTable([
      ['what', 'seconds', 'rows/s'],
      ['plain COPY (baseline)', fixed(copySeconds, 2), fixed(copyRate, 0)],
      ['patients import', fixed(importSeconds, 2), fixed(importRate, 0)],
    ]),
  );
  console.log(`ratio (import / COPY): ${fixed(ratio, 3)} (target ≥ ${TARGET}: ${ratio >= TARGET ? 'met' : 'missed'})`);
  return problems;
}

export const importBench: Bench = {
  name: 'import',
  description: 'import 100,000 patients from CSV vs a plain COPY of the same file',
  run,
};
