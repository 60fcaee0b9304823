import { appendAudit } from '../src/audit/store.js';
import { AuditAction } from '../src/audit/events.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { createPracticeWithDefaults, PracticeCreateSchema } from '../src/practices/onboarding.js';
import { cliArgs, cliConfig, cliDb, fail } from './cli-support.js';

const USAGE = `usage: npm run practice:create -- --name <name> --slug <slug> --time-zone <IANA zone> [--number <E.164>] [--fallback-number <E.164>]
  Creates a practice with default hours (Mon–Fri 08:00–17:00), holidays, languages (en, es) and voicemail retention (90 days).
  --number           its first number: a main line running the after-hours flow (connect it at Twilio with numbers:connect)
  --fallback-number  where the fail-safe sends callers and, until an escalation policy exists, urgent calls`;

const { values } = cliArgs(USAGE, {
  options: {
    name: { type: 'string' },
    slug: { type: 'string' },
    'time-zone': { type: 'string' },
    number: { type: 'string' },
    'fallback-number': { type: 'string' },
  },
});

/** The option each field of the input comes from, to name it in a refusal. */
const OPTION_OF: Record<string, string> = { name: '--name', slug: '--slug', timeZone: '--time-zone', number: '--number', fallbackNumber: '--fallback-number' };

const input = PracticeCreateSchema.safeParse({
  name: values.name ?? '',
  slug: values.slug ?? '',
  timeZone: values['time-zone'] ?? '',
  ...(values.number !== undefined ? { number: values.number } : {}),
  ...(values['fallback-number'] !== undefined ? { fallbackNumber: values['fallback-number'] } : {}),
});
if (!input.success) {
  fail(input.error.issues.map((i) => `${OPTION_OF[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join('\n'));
}

const config = cliConfig();
const db = cliDb(config);
try {
  await migrateToLatest(db, config.database.schema);
  const created = await createPracticeWithDefaults(db, input.data);
  if (!created.ok) fail(created.reason === 'slug_taken' ? '--slug: another practice has that slug' : '--number: that number belongs to another practice');
  const practice = created.practice;
  await appendAudit(db, {
    action: AuditAction.AdminPracticeCreated,
    actor: 'cli:practice-create',
    practiceId: practice.id,
    subjectId: practice.id,
    details: { slug: practice.slug, numbers: input.data.number ? 1 : 0, via: 'cli' },
  });
  process.stdout.write(
    `Created practice ${practice.name} (${practice.slug}), id ${practice.id}, time zone ${practice.timeZone}.\n` +
      `Next: npm run keys:create -- --role admin --practice ${practice.slug}` +
      (input.data.number ? `\n      npm run numbers:connect -- --practice ${practice.slug} --number ${input.data.number} --kind main\n` : '\n'),
  );
} finally {
  await db.destroy();
}
