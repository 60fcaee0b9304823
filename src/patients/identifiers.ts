import { z } from 'zod';
import { blindIndex, type Keyring } from '../adapters/keyring.js';
import { E164Schema, TimeZoneSchema } from '../practices/settings.js';
import { LANGUAGES } from '../calls/flow-types.js';

/**
 * How a patient's identifiers are normalised and blind-indexed. Search is an exact match on these
 * keyed HMACs (PHONE_INDEX in ./store.ts for numbers), so the same spelling in two forms must give
 * the same index: names lower-cased, accents folded and whitespace collapsed; dates as YYYY-MM-DD;
 * MRNs trimmed and upper-cased. Pure, apart from the key.
 */

export const INDEX_PURPOSE = {
  familyName: 'name-family',
  fullName: 'name-full',
  dob: 'dob',
  mrn: 'mrn',
  email: 'email',
} as const;

/** `José  DE la Cruz ` → `jose de la cruz`. */
export function normaliseName(name: string): string {
  return name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/gu, ' ').trim();
}

export function normaliseMrn(mrn: string): string {
  return mrn.trim().toUpperCase();
}

/** The full name as indexed: given and family names, normalised, in that order. */
export function fullName(firstName: string | undefined, lastName: string | undefined): string {
  return normaliseName(`${firstName ?? ''} ${lastName ?? ''}`);
}

export function familyNameIndex(k: Keyring, lastName: string): string {
  return blindIndex(k.indexKey, INDEX_PURPOSE.familyName, normaliseName(lastName));
}

export function fullNameIndex(k: Keyring, firstName: string | undefined, lastName: string | undefined): string {
  return blindIndex(k.indexKey, INDEX_PURPOSE.fullName, fullName(firstName, lastName));
}

export function dobIndex(k: Keyring, isoDate: string): string {
  return blindIndex(k.indexKey, INDEX_PURPOSE.dob, isoDate);
}

export function mrnIndex(k: Keyring, mrn: string): string {
  return blindIndex(k.indexKey, INDEX_PURPOSE.mrn, normaliseMrn(mrn));
}

/** `  Jane.Doe@Example.ORG ` → `jane.doe@example.org`: as stored, sent to and indexed. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The blind index of an e-mail address: how its opt-out and its patients are found (never the address). */
export function emailIndex(k: Keyring, email: string): string {
  return blindIndex(k.indexKey, INDEX_PURPOSE.email, normaliseEmail(email));
}

// ---------------------------------------------------------------------------
// Field schemas shared by the API and the CSV import

const NO_NUL = (v: string): boolean => !v.includes('\u0000');
const NUL_MESSAGE = 'must not contain a NUL character (U+0000)';

/** A real calendar date, YYYY-MM-DD, not in the future's far side of sense (1900 onwards). */
export const DateOfBirthSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected YYYY-MM-DD' })
  .refine((v) => {
    const d = new Date(`${v}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(v) && v >= '1900-01-01';
  }, { message: 'expected a real date from 1900-01-01 on' });

/** A recall due date (ISO YYYY-MM-DD, a real day from 2000 to 2199, as migration 0035 stores). */
export const RecallDueSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected YYYY-MM-DD', abort: true })
  .refine((v) => {
    const d = new Date(`${v}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(v) && v >= '2000-01-01' && v <= '2199-12-31';
  }, { message: 'expected a real date from 2000-01-01 to 2199-12-31' });

export const NameSchema = z.string().trim().min(1).max(80).refine(NO_NUL, { message: NUL_MESSAGE }).refine((v) => normaliseName(v).length > 0, { message: 'expected letters' });
export const MrnSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/, { message: 'expected 1 to 40 letters, digits, dots, dashes or underscores' });
/**
 * An e-mail address as a notice may be sent to: one mailbox (no display name, no list), at most
 * 254 characters, printable ASCII, trimmed and lower-cased. The message never echoes the input.
 */
export const EmailSchema = z
  .string()
  .trim()
  .max(254, { message: 'expected at most 254 characters' })
  .refine(NO_NUL, { message: NUL_MESSAGE })
  .pipe(z.email({ message: 'expected one e-mail address such as name@example.org' }))
  .transform(normaliseEmail);

export const UsStateSchema = z.string().regex(/^[A-Z]{2}$/, { message: 'expected a two-letter state code such as FL' });
export const LanguageSchema = z.enum(LANGUAGES);
export const PHONE_KINDS = ['mobile', 'home', 'work', 'other'] as const;
export const PhoneEntrySchema = z.strictObject({
  number: E164Schema,
  kind: z.enum(PHONE_KINDS).default('mobile'),
  preferred: z.boolean().optional(),
});
export { E164Schema, TimeZoneSchema };
