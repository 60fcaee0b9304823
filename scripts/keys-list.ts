import { listApiKeys } from '../src/auth/api-keys.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { cliArgs, cliConfig, cliDb, cliPractice, fail } from './cli-support.js';

const USAGE = `usage: npm run keys:list -- --practice <id or slug> [--json]
  Lists the practice's API keys (id, role, state, label, created, expires, last used); never a key itself.`;

const { values } = cliArgs(USAGE, {
  options: {
    practice: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
if (!values.practice) fail('--practice: expected a practice id (UUID) or slug, such as demo');

const config = cliConfig();
const db = cliDb(config);
try {
  const practice = await cliPractice(db, config, values.practice);
  const keys = await listApiKeys(systemScope({ db }, practice.id), new Date());
  await appendAudit(db, {
    action: AuditAction.AdminApiKeysListed,
    actor: 'cli:keys-list',
    practiceId: practice.id,
    details: { count: keys.length },
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ practiceId: practice.id, keys }, null, 2)}\n`);
  } else if (keys.length === 0) {
    process.stdout.write(`No API keys for ${practice.name} (${practice.id}).\n`);
  } else {
    const minute = (iso: string | null): string => (iso ? `${iso.slice(0, 16).replace('T', ' ')}Z` : '-');
    const rows = [
      ['id', 'role', 'state', 'created', 'expires', 'last used', 'label'],
      ...keys.map((k) => [k.id, k.role, k.status, minute(k.createdAt), k.expiresAt ? minute(k.expiresAt) : 'never', minute(k.lastUsedAt), k.label ?? '']),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
  }
} finally {
  await db.destroy();
}
