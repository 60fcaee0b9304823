import type { ApiRole } from '../adapters/db-schema.js';

/**
 * Whether a viewer sees a caller's number in full or masked, decided in one place for every list
 * and view that shows one (the call log, the voicemail inbox, a callback task). Staff call back,
 * so they get the number in full; an auditor only tells callers apart, so they get `masked` and
 * the sealed number is never decrypted for them (the records keep no clear hint of it, not even
 * its last digits): an auditor's read opens no PHI.
 */

export type NumberView = 'full' | 'masked';

/** What an auditor sees where a number is on record. */
export const MASKED_NUMBER = 'masked';

/** Pure: the view a role gets. Auditors masked; everyone who may call back in full. */
export function numberViewFor(role: ApiRole): NumberView {
  return role === 'auditor' ? 'masked' : 'full';
}

/**
 * The number as the view shows it: null when none is on record (withheld, or none kept), the
 * masked placeholder for a masked view (`open` is not called: nothing is decrypted), else the
 * number opened.
 */
export async function shownNumber<T>(sealed: T | null, view: NumberView, open: (sealed: T) => Promise<string>): Promise<string | null> {
  if (sealed === null) return null;
  return view === 'full' ? open(sealed) : MASKED_NUMBER;
}
