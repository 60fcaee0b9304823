import type { Db } from './postgres.js';
import type { Queues } from './queue.js';
import { JOB_STATES, type MetricsSources } from './metrics.js';

/**
 * What the scrape-time gauges read: BullMQ's job counts per queue, and one GROUP BY each for
 * voicemails by state and drops by status (counts across practices; no practice, patient or
 * campaign id ever becomes a label). Each is bounded by the metrics module's time limit.
 */
export function metricsSources(db: Db, queues: Queues): MetricsSources {
  const countBy = async (rows: Promise<Array<{ key: string; n: string | number | bigint }>>): Promise<Record<string, number>> =>
    Object.fromEntries((await rows).map((r) => [r.key, Number(r.n)]));
  return {
    queueCounts: (queue) => queues[queue].getJobCounts(...JOB_STATES),
    voicemailStates: () =>
      countBy(
        db
          .selectFrom('voicemails')
          .select((eb) => ['state as key', eb.fn.countAll<string>().as('n')])
          .groupBy('state')
          .execute(),
      ),
    dropStatuses: () =>
      countBy(
        db
          .selectFrom('drops')
          .select((eb) => ['status as key', eb.fn.countAll<string>().as('n')])
          .groupBy('status')
          .execute(),
      ),
  };
}
