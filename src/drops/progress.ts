/** Pure: how a campaign's progress reads on one line of a terminal (the `npm run campaign -- watch` bar). */

const STATUSES = ['delivered', 'failed', 'skipped', 'cancelled', 'sent', 'queued', 'pending'] as const;

export interface ProgressView {
  total: number;
  done: number;
  counts: Record<string, number>;
  campaign: { state: string };
}

export function progressLine(p: ProgressView, width = 30): string {
  const ratio = p.total === 0 ? 1 : Math.min(1, p.done / p.total);
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const parts = STATUSES.filter((s) => (p.counts[s] ?? 0) > 0).map((s) => `${s} ${p.counts[s]}`);
  return `${bar} ${(ratio * 100).toFixed(0).padStart(3)}%  ${p.done}/${p.total}  ${p.campaign.state}  ${parts.join(', ')}`;
}
