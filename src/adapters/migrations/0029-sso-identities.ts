import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

/**
 * Who a practice's identity provider says a person is (issue 13, single sign-on): the provider's
 * subject (`sub`, stable for an account there) recorded at the person's first sign-in through it.
 * Later sign-ins find the person by (issuer, subject) first; an e-mail arriving under another
 * subject (an address re-assigned at the provider) is refused rather than taken for the person.
 * Practice-owned, with row-level security; the sign-in reads and writes it on the system pool.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE sso_identities (
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 500),
      subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, issuer, subject),
      -- One subject per person per provider: a second would be the take-over this table prevents.
      UNIQUE (practice_id, issuer, user_id)
    );
  `.execute(db);
  await enableTenantRls(db, 'sso_identities');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE sso_identities`.execute(db);
}
