import type { Services } from '../../src/services.js';
import { dispatchDueDrops } from '../../src/drops/dispatcher.js';

/**
 * Moves drops' time forward in a test: the dispatcher at the moved clock (it runs every 20 s on
 * its own, on real time) queues what is due by then, and every delayed drop job is promoted to
 * run now (its pacing delay skipped).
 */
export async function sendDueDrops(services: Pick<Services, 'db' | 'queues' | 'clock'>): Promise<void> {
  await dispatchDueDrops(services);
  for (const job of await services.queues.drops.getDelayed()) await job.promote().catch(() => undefined);
}

/** The planned send time of each of these drops still waiting in the campaign schedule (drop_schedule), by drop id. */
export async function scheduledTimes(services: Pick<Services, 'db'>, dropIds: readonly string[]): Promise<Map<string, Date>> {
  if (dropIds.length === 0) return new Map();
  const rows = await services.db.selectFrom('drop_schedule').select(['drop_id', 'at']).where('drop_id', 'in', dropIds).execute();
  return new Map(rows.map((r) => [r.drop_id, r.at]));
}
