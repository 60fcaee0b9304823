import { revokeAnyApiKey } from '../src/auth/api-keys.js';
import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { cliArgs, cliConfig, cliDb, fail } from './cli-support.js';

const USAGE = `usage: npm run keys:revoke -- --key <key id>
  Revokes an API key for good (its id from npm run keys:list); requests with it get 401 from then on.`;

const { values } = cliArgs(USAGE, { options: { key: { type: 'string' } } });
if (!values.key || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(values.key)) {
  fail('--key: expected a key id (UUID, from npm run keys:list), not the key itself');
}

const config = cliConfig();
const db = cliDb(config);
try {
  await migrateToLatest(db, config.database.schema);
  const revoked = await revokeAnyApiKey(db, { keyId: values.key.toLowerCase(), now: new Date() });
  if (revoked.result === 'not_found') fail(`--key: no API key ${values.key}`);
  if (revoked.result === 'already_revoked') {
    process.stdout.write(`Key ${revoked.key.id} was already revoked at ${revoked.key.revokedAt ?? '?'}.\n`);
  } else {
    await appendAudit(db, {
      action: AuditAction.AdminApiKeyRevoked,
      actor: 'cli:keys-revoke',
      practiceId: revoked.practiceId,
      subjectId: revoked.key.id,
      details: { role: revoked.key.role, via: 'cli' },
    });
    process.stdout.write(`Revoked ${revoked.key.role} key ${revoked.key.id}.\n`);
  }
} finally {
  await db.destroy();
}
