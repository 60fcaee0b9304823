import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createKeyring } from '../src/adapters/keyring.js';
import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { importPatients } from '../src/patients/patient-import.js';
import { importAppointments } from '../src/patients/appointment-import.js';
import type { ImportReport } from '../src/patients/csv-import.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { cliArgs, cliConfig, cliDb, cliPractice, fail } from './cli-support.js';

const USAGE = `usage: npm run patients:import -- --practice <id or slug> [--appointments] [--commit] file.csv
  Imports patients (upserted by MRN) or, with --appointments, appointments (patient by MRN) from a
  CSV file, streamed. Without --commit it is a dry run: it reads, checks and reports, and writes
  nothing. With --commit, one transaction: any invalid row and nothing is written (exit 1).
  Patients' columns: mrn, date_of_birth (required), first_name, last_name, phone, home_phone,
    preferred_phone (mobile|home), preferred_language, us_state, time_zone.
  Appointments' columns: mrn, starts_at (required, ISO 8601 with offset), status, provider, location.
  The report (JSON on standard output) names rows and columns, never values.`;

const { values, positionals } = cliArgs(USAGE, {
  options: {
    practice: { type: 'string' },
    appointments: { type: 'boolean', default: false },
    commit: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});

if (!values.practice) fail('--practice: expected a practice id (UUID) or slug, such as demo');
const file = positionals[0];
if (!file || positionals.length !== 1) fail('file: expected one CSV file');
try {
  await access(file);
} catch {
  fail(`file: cannot read ${file}`);
}

const config = cliConfig();
const db = cliDb(config);
let report: ImportReport;
try {
  const practice = await cliPractice(db, config, values.practice);
  const keyring = await createKeyring(config);
  const scope = systemScope({ db }, practice.id);
  const importer = values.appointments ? importAppointments : importPatients;
  report = await importer(scope, keyring, createReadStream(file), {
    dryRun: !values.commit,
    onBatch: (rows) => process.stderr.write(`\r${rows} rows read`),
  });
  process.stderr.write('\n');
  await appendAudit(db, {
    action: values.appointments ? AuditAction.AdminAppointmentsImported : AuditAction.AdminPatientsImported,
    actor: 'cli:patients-import',
    practiceId: practice.id,
    details: { dryRun: report.dryRun, committed: report.committed, rows: report.rows, created: report.created, updated: report.updated, duplicate: report.duplicate, invalid: report.invalid },
  });
} finally {
  await db.destroy();
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exitCode = report.invalid > 0 && values.commit ? 1 : 0;
