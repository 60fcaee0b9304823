/**
 * What the caller keyed at an identity check. Pure.
 * Date of birth as MMDDYYYY (8 digits, a real date, not in the future); PIN as 4–6 digits.
 */

export type VerifyMethod = 'dob' | 'pin' | 'dob_or_pin';

export type Entry = { kind: 'dob'; isoDate: string } | { kind: 'pin'; pin: string } | { kind: 'invalid' };

export function parseEntry(digits: string, method: VerifyMethod, now: Date): Entry {
  const keys = digits.replace(/#$/, '');
  if (!/^\d+$/.test(keys)) return { kind: 'invalid' };
  if (keys.length === 8 && method !== 'pin') {
    const mm = Number(keys.slice(0, 2));
    const dd = Number(keys.slice(2, 4));
    const yyyy = Number(keys.slice(4));
    const d = new Date(Date.UTC(yyyy, mm - 1, dd));
    const valid = d.getUTCFullYear() === yyyy && d.getUTCMonth() === mm - 1 && d.getUTCDate() === dd && yyyy >= 1900 && d.getTime() <= now.getTime();
    return valid ? { kind: 'dob', isoDate: `${keys.slice(4)}-${keys.slice(0, 2)}-${keys.slice(2, 4)}` } : { kind: 'invalid' };
  }
  if (keys.length >= 4 && keys.length <= 6 && method !== 'dob') return { kind: 'pin', pin: keys };
  return { kind: 'invalid' };
}
