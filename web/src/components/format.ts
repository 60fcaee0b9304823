/**
 * How the console writes times, lengths and numbers: one place, so every page says them alike.
 * Numbers come from the API already shaped for the role: E.164 in full, `masked` for an auditor
 * (never decrypted on the server), or null when the caller withheld theirs.
 */

/** The API's word for a number an auditor may not see (src/calls/call-list.ts MASKED_NUMBER). */
export const MASKED_NUMBER = 'masked';

export function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A time to the second (a call's steps are seconds apart). */
export function whenExact(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${s} s` : `${s} s`;
}

export type NumberShown = { kind: 'full'; text: string } | { kind: 'masked'; text: string } | { kind: 'none'; text: string };

/**
 * A number as a page shows it: a North American number grouped (+1 202-555-0123), another E.164
 * as it is; `masked` said as such (the page never guesses digits); null as "Withheld" (or `none`).
 */
export function showNumber(number: string | null, none = 'Withheld'): NumberShown {
  if (number === null || number === '') return { kind: 'none', text: none };
  if (number === MASKED_NUMBER) return { kind: 'masked', text: 'Masked' };
  const nanp = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number);
  return { kind: 'full', text: nanp ? `+1 ${nanp[1]}-${nanp[2]}-${nanp[3]}` : number };
}
