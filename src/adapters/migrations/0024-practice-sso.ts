import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

/**
 * Single sign-on per practice through OpenID Connect (issue 13, item 1): the practice's identity
 * provider (its issuer, and the client registered there for us), the e-mail domains it may vouch
 * for, and whether its sign-in counts as the second factor. One per practice, with row-level
 * security like every practice table; the sign-in itself (which practice a `?practice=` slug
 * names) reads it on the system pool, as an invitation is found by its token.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE practice_sso (
      practice_id uuid PRIMARY KEY REFERENCES practices(id) ON DELETE CASCADE,
      -- The OpenID issuer identifier; discovery reads <issuer>/.well-known/openid-configuration.
      -- https (http only to a loopback address, in development and test: checked by the API).
      issuer text NOT NULL CHECK (issuer ~ '^https?://' AND length(issuer) <= 500),
      client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
      -- The client secret, envelope-encrypted (context: table, field, practice). Never returned.
      client_secret_enc bytea NOT NULL,
      -- Lower-cased domains a verified e-mail must end in (@domain): at least one.
      allowed_domains text[] NOT NULL CHECK (cardinality(allowed_domains) BETWEEN 1 AND 20),
      -- The admin attests the provider enforces MFA: its sign-in then counts as both factors.
      -- False (the default): TOTP is asked as after a password.
      sso_satisfies_mfa boolean NOT NULL DEFAULT false,
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
  await enableTenantRls(db, 'practice_sso');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE practice_sso`.execute(db);
}
