import type { NextFunction, Request, Response } from 'express';
import { badRequest } from './responses.js';

/**
 * PostgreSQL refuses U+0000 in text and jsonb ("invalid byte sequence", "unsupported Unicode
 * escape sequence"), so a NUL byte that reaches a query turns a bad request into a 500. One guard
 * for every /api route, mounted after the JSON body is parsed: a NUL anywhere in the body (values
 * and field names), the query string or the path is refused with 400 naming where it was. The
 * offending value is never echoed.
 */

const NUL = '\u0000';
/** How deep a body is walked; JSON nested deeper than this is refused outright (no route takes it). */
const MAX_DEPTH = 32;
/** A field name is quoted in the message only when it is short and printable. */
const PRINTABLE_NAME = /^[\x21-\x7e]{1,64}$/;

export type NulLocation = { where: string } | { tooDeep: string };

function segment(key: string | number): string {
  return typeof key === 'number' ? String(key) : PRINTABLE_NAME.test(key) ? key : '?';
}

/** `root` alone for the value itself; else the dotted path, after `prefix` (`query.` for the query string). */
function joinPath(path: readonly (string | number)[], root: string, prefix: string): string {
  return path.length === 0 ? root : prefix + path.map(segment).join('.');
}

/**
 * Pure: where the first NUL character is in a parsed value (strings, arrays, plain objects), as a
 * dotted field path (`weeklyHours.mon.0.open`, after `prefix`), or null. `root` names the value itself.
 */
export function findNul(value: unknown, root = 'body', prefix = ''): NulLocation | null {
  const walk = (v: unknown, path: (string | number)[]): NulLocation | null => {
    if (typeof v === 'string') return v.includes(NUL) ? { where: joinPath(path, root, prefix) } : null;
    if (v === null || typeof v !== 'object') return null;
    if (path.length >= MAX_DEPTH) return { tooDeep: joinPath(path, root, prefix) };
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) {
        const found = walk(item, [...path, i]);
        if (found) return found;
      }
      return null;
    }
    for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
      if (key.includes(NUL)) return { where: path.length === 0 ? `${root} (a field name)` : `${joinPath(path, root, prefix)} (a field name)` };
      const found = walk(item, [...path, key]);
      if (found) return found;
    }
    return null;
  };
  return walk(value, []);
}

/** A NUL in the path: `%00` in any segment (Express decodes route parameters from it). */
function pathHasNul(req: Request): boolean {
  const path = req.originalUrl.split('?', 1)[0] ?? '';
  return path.includes(NUL) || /%00/i.test(path);
}

/** The /api guard (see above): 400 `{ error: 'bad_request', message: '<field>: …' }`. */
export function refuseNulBytes() {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (pathHasNul(req)) return badRequest(res, 'path: must not contain a NUL character (U+0000)');
    const found = findNul(req.query, 'query', 'query.') ?? findNul(req.body, 'body');
    if (found && 'where' in found) return badRequest(res, `${found.where}: must not contain a NUL character (U+0000)`);
    if (found) return badRequest(res, `${found.tooDeep}: nested too deeply`);
    next();
  };
}
