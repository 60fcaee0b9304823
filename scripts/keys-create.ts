import { parseArgs } from 'node:util';
import { API_ROLES, createApiKey, type ApiRole } from '../src/auth/api-keys.js';
import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { cliConfig, cliDb, cliPractice, fail } from './cli-support.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    practice: { type: 'string' },
    label: { type: 'string' },
  },
});

const role = values.role;
if (!role || !(API_ROLES as readonly string[]).includes(role)) fail(`--role: expected one of ${API_ROLES.join(', ')}`);
if (!values.practice) fail('--practice: expected a practice id (UUID) or slug, such as demo');
if (values.label !== undefined && !/^[\w .-]{1,80}$/.test(values.label)) fail('--label: expected up to 80 letters, digits, spaces, dots or dashes');

const config = cliConfig();
const db = cliDb(config);
try {
  const practice = await cliPractice(db, config, values.practice);
  const created = await createApiKey(db, { role: role as ApiRole, practiceId: practice.id, ...(values.label ? { label: values.label } : {}) });
  await appendAudit(db, {
    action: AuditAction.AdminApiKeyCreated,
    actor: 'cli:keys-create',
    practiceId: practice.id,
    subjectId: created.id,
    details: { role: role as string },
  });
  process.stdout.write(
    `Created ${role} key ${created.id} for ${practice.name} (${practice.id}).\n` +
      `Key (shown once, store it now):\n${created.key}\n`,
  );
} finally {
  await db.destroy();
}
