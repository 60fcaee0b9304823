import { API_ROLES, createApiKey, DEFAULT_KEY_LIFETIME, OPERATOR_ROLE, parseExpiresIn, type ApiRole, type KeyOwner } from '../src/auth/api-keys.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { cliArgs, cliConfig, cliDb, cliPractice, fail } from './cli-support.js';

const USAGE = `usage: npm run keys:create -- --role ${API_ROLES.join('|')} --practice <id or slug> [--label text] [--expires-in 90d|12h|6w|1y|none]
       npm run keys:create -- --role ${OPERATOR_ROLE} [--label text] [--expires-in …]
  Creates an API key for the practice and prints it once (only its hash is stored).
  An ${OPERATOR_ROLE} key belongs to no practice: it creates, lists, suspends and reactivates practices and connects their lines, and reads no practice's data.
  --expires-in  how long the key is valid: a number and h, d, w or y (at most 5y), or none; default ${DEFAULT_KEY_LIFETIME}`;

const { values } = cliArgs(USAGE, {
  options: {
    role: { type: 'string' },
    practice: { type: 'string' },
    label: { type: 'string' },
    'expires-in': { type: 'string' },
  },
});

const role = values.role;
const ROLES: readonly string[] = [...API_ROLES, OPERATOR_ROLE];
if (!role || !ROLES.includes(role)) fail(`--role: expected one of ${ROLES.join(', ')}`);
const operator = role === OPERATOR_ROLE;
if (operator && values.practice !== undefined) fail(`--practice: an ${OPERATOR_ROLE} key belongs to no practice; leave --practice out`);
if (!operator && !values.practice) fail('--practice: expected a practice id (UUID) or slug, such as demo');
if (values.label !== undefined && !/^[\w .-]{1,80}$/.test(values.label)) fail('--label: expected up to 80 letters, digits, spaces, dots or dashes');
const lifetime = parseExpiresIn(values['expires-in'] ?? DEFAULT_KEY_LIFETIME);
if (!lifetime.ok) fail(`--expires-in: ${lifetime.message}`);

const config = cliConfig();
const db = cliDb(config);
try {
  let practice: { id: string; name: string } | null = null;
  if (operator) await migrateToLatest(db, config.database.schema);
  else practice = await cliPractice(db, config, values.practice ?? '');
  const owner: KeyOwner = practice === null ? { role: OPERATOR_ROLE, practiceId: null } : { role: role as ApiRole, practiceId: practice.id };
  const now = new Date();
  const expiresAt = lifetime.ms === null ? null : new Date(now.getTime() + lifetime.ms);
  const created = await createApiKey(db, {
    ...owner,
    expiresAt,
    now,
    ...(values.label ? { label: values.label } : {}),
  });
  await appendAudit(db, {
    action: AuditAction.AdminApiKeyCreated,
    actor: 'cli:keys-create',
    practiceId: practice?.id ?? null,
    subjectId: created.id,
    details: { role: role as string, expiresAt: expiresAt?.toISOString() ?? null },
  });
  process.stdout.write(
    `Created ${role} key ${created.id} for ${practice ? `${practice.name} (${practice.id})` : 'the platform (no practice)'}, ` +
      `${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}.\n` +
      `Key (shown once, store it now):\n${created.key}\n`,
  );
} finally {
  await db.destroy();
}
