import { sql } from 'kysely';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * A practice's contacts (table practice_contacts): the numbers its flows may transfer a caller
 * to by name (`transfer` with `to: contact`), such as a nurse line, an answering team or a
 * hospital operator. Business numbers, not PHI.
 */

export interface Contact {
  key: string;
  label: string;
  number: string;
  updatedAt: Date;
}

function toContact(r: { key: string; label: string; number: string; updated_at: Date }): Contact {
  return { key: r.key, label: r.label, number: r.number, updatedAt: r.updated_at };
}

export async function listContacts(scope: PracticeScope): Promise<Contact[]> {
  const rows = await scope.db
    .selectFrom('practice_contacts')
    .select(['key', 'label', 'number', 'updated_at'])
    .where('practice_id', '=', scope.practiceId)
    .orderBy('key')
    .execute();
  return rows.map(toContact);
}

/** Creates or replaces the contact under `key`. */
export async function putContact(scope: PracticeScope, input: { key: string; label: string; number: string }, now: Date): Promise<{ contact: Contact; created: boolean }> {
  const row = await scope.db
    .insertInto('practice_contacts')
    .values({ practice_id: scope.practiceId, key: input.key, label: input.label, number: input.number, updated_at: now })
    .onConflict((oc) => oc.columns(['practice_id', 'key']).doUpdateSet({ label: input.label, number: input.number, updated_at: now }))
    .returning(['key', 'label', 'number', 'updated_at', sql<boolean>`(xmax = 0)`.as('inserted')])
    .executeTakeFirstOrThrow();
  // xmax is 0 on a row this statement inserted, not on one it updated.
  return { contact: toContact(row), created: row.inserted };
}

export async function deleteContact(scope: PracticeScope, key: string): Promise<boolean> {
  const r = await scope.db.deleteFrom('practice_contacts').where('practice_id', '=', scope.practiceId).where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The contacts' numbers by key, for the call path (which found the practice by the number called). */
export async function contactNumbers(scope: PracticeScope): Promise<Record<string, string>> {
  const rows = await scope.db.selectFrom('practice_contacts').select(['key', 'number']).where('practice_id', '=', scope.practiceId).execute();
  return Object.fromEntries(rows.map((r) => [r.key, r.number]));
}
