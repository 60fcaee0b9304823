import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

/**
 * Staff accounts (issue 13, items 1 and 2): people who sign in, their memberships in practices,
 * their recovery codes, the invitations that bring them in, and the practice's idle logoff.
 *
 * Tenancy: a person may belong to several practices, so `users` and `recovery_codes` belong to
 * no practice. They are not opened to `ahl_tenant` at all: identity (sign-in, the session's user,
 * an invitation found by its token) is read and written on the system pool by src/auth/, as an
 * API key is found by its hash. A request reads its practice's people only through
 * `ahl_practice_members()`, which returns the members of the practice its connection names
 * (`ahl_practice_scope()`, so it refuses a connection that names none) and nothing else of
 * `users`. `memberships` and `invitations` carry `practice_id` and have row-level security.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Automatic logoff after inactivity (HIPAA 164.312(a)(2)(iii)): minutes, per practice.
    ALTER TABLE practices ADD COLUMN idle_logoff_minutes integer NOT NULL DEFAULT 15
      CHECK (idle_logoff_minutes BETWEEN 5 AND 60);

    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- Lower-cased by the application; the CHECK keeps it so.
      email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
      display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
      -- argon2id (PHC string); NULL for a person who signs in only through single sign-on (later).
      password_hash text,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
      -- The TOTP secret, envelope-encrypted with the keyring (context: the user's id).
      totp_secret_enc bytea,
      totp_confirmed_at timestamptz,
      -- The last 30-second step a code was accepted for: a code is never accepted twice.
      totp_last_step bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_email_key ON users (email);

    CREATE TABLE memberships (
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      role text NOT NULL CHECK (role IN ('admin', 'staff', 'provider', 'auditor')),
      -- Set by an admin's "disable": the person no longer acts for this practice.
      disabled_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, practice_id)
    );
    CREATE INDEX memberships_practice_idx ON memberships (practice_id);

    CREATE TABLE recovery_codes (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      -- SHA-256 of a random code (80 bits): shown once, never stored.
      code_hash text NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, code_hash)
    );

    CREATE TABLE invitations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      token_hash text NOT NULL UNIQUE,
      email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
      role text NOT NULL CHECK (role IN ('admin', 'staff', 'provider', 'auditor')),
      provider_id uuid REFERENCES providers(id) ON DELETE SET NULL,
      invited_by text NOT NULL,
      expires_at timestamptz NOT NULL,
      accepted_at timestamptz,
      accepted_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX invitations_practice_idx ON invitations (practice_id, created_at);

    -- An on-call provider's own account (nullable: providers who never sign in).
    ALTER TABLE providers ADD COLUMN user_id uuid REFERENCES users(id) ON DELETE SET NULL;
    CREATE UNIQUE INDEX providers_user_idx ON providers (practice_id, user_id) WHERE user_id IS NOT NULL;
  `.execute(db);

  await enableTenantRls(db, 'memberships');
  await enableTenantRls(db, 'invitations');

  // The one door from a request to users: the members of the connection's own practice.
  // SECURITY DEFINER (the owner, who is not held by row-level security) with the practice
  // taken from ahl_practice_scope(), never from an argument; search_path pinned to this schema.
  const schema = (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(db)).rows[0]?.s ?? 'public';
  await sql`
    CREATE FUNCTION ahl_practice_members()
    RETURNS TABLE (user_id uuid, email text, display_name text, user_status text, role text,
                   disabled_at timestamptz, totp_enabled boolean, created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ${sql.id(schema)}, pg_temp AS $fn$
      SELECT u.id, u.email, u.display_name, u.status, m.role, m.disabled_at,
             u.totp_confirmed_at IS NOT NULL, m.created_at
        FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.practice_id = ahl_practice_scope()
    $fn$;
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION ahl_practice_members() FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION ahl_practice_members() TO ahl_tenant, ahl_system`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP FUNCTION ahl_practice_members();
    DROP INDEX providers_user_idx;
    ALTER TABLE providers DROP COLUMN user_id;
    DROP TABLE invitations;
    DROP TABLE recovery_codes;
    DROP TABLE memberships;
    DROP TABLE users;
    ALTER TABLE practices DROP COLUMN idle_logoff_minutes;
  `.execute(db);
}
