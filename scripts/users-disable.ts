import { disableAccountEverywhere } from '../src/auth/account-disable.js';
import { appendAudit } from '../src/audit/store.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { createRedis } from '../src/adapters/redis.js';
import { cliArgs, cliConfig, cliDb, fail } from './cli-support.js';

const USAGE = `usage: npm run users:disable -- --email <e-mail address>
  Disables a person's account everywhere (every practice they belong to) and ends all of their
  sessions; audited in each practice. A practice's admin disables only their membership there.`;

const { values } = cliArgs(USAGE, { options: { email: { type: 'string' } } });
if (!values.email || !/^[^\s@]{1,200}@[^\s@]{1,200}$/.test(values.email)) fail('--email: expected an e-mail address');

const config = cliConfig();
const db = cliDb(config);
const redis = createRedis(config.redis.url, config.redis.keyPrefix);
try {
  await migrateToLatest(db, config.database.schema);
  const done = await disableAccountEverywhere({ db, redis, audit: (event) => appendAudit(db, event), now: new Date() }, { email: values.email, actor: 'cli:users-disable' });
  // The account by its id only: the e-mail address is not repeated into output that may be kept.
  if (done.result === 'not_found') fail('--email: no account with that e-mail address');
  if (done.result === 'already_disabled') process.stdout.write(`Account ${done.userId} was already disabled.\n`);
  else process.stdout.write(`Disabled account ${done.userId} in ${done.practiceIds.length} practice(s); ${done.sessionsEnded} session(s) ended.\n`);
} finally {
  await db.destroy();
  redis.disconnect();
}
