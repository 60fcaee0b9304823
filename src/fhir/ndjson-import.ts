import type { Readable } from 'node:stream';
import type { Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { applyAppointments, applyPatients, DryRunRollback, emptyReport, inOneTransaction, type ApplyContext, type FhirImportReport, type FhirImportResource, type IncomingResource } from './apply.js';
import { NdjsonError, readNdjson } from './ndjson.js';
import type { FhirRecordSink } from './record-sink.js';

/**
 * A FHIR Bulk Data file (`Patient.ndjson` or `Appointment.ndjson`) imported as a stream, in batches,
 * inside one transaction: a line that is not a resource of the named type refuses the whole file
 * (NdjsonError, nothing written); a resource that cannot be mapped is reported by line and field
 * and the others are imported. A dry run builds the same report and rolls back.
 */

export const NDJSON_BATCH = 500;

export interface NdjsonImportOptions {
  resourceType: FhirImportResource;
  mrnSystem: string;
  dryRun: boolean;
  now: Date;
  sink: FhirRecordSink;
}

export async function importNdjson(scope: PracticeScope, keyring: Keyring, input: Readable, opts: NdjsonImportOptions): Promise<FhirImportReport> {
  const report = emptyReport(opts.resourceType, opts.dryRun);
  const apply = opts.resourceType === 'Patient' ? applyPatients : applyAppointments;
  try {
    await inOneTransaction(scope, async (tx) => {
      const ctx: ApplyContext = { tx, keyring, mrnSystem: opts.mrnSystem, now: opts.now, sink: opts.sink, seen: new Set(), skipApplied: false };
      let batch: IncomingResource[] = [];
      for await (const { line, resource } of readNdjson(input)) {
        if (resource.resourceType !== opts.resourceType) throw new NdjsonError(line, `resourceType: expected ${opts.resourceType}`);
        batch.push({ origin: { line }, resource });
        if (batch.length >= NDJSON_BATCH) {
          await apply(ctx, batch, report);
          batch = [];
        }
      }
      if (batch.length > 0) await apply(ctx, batch, report);
      if (opts.dryRun) throw new DryRunRollback();
    });
    report.committed = true;
  } catch (err) {
    if (!(err instanceof DryRunRollback)) throw err;
  }
  return report;
}
