import type { Harness } from './harness.js';

/**
 * A request to the API as a script sends it: an API key as a bearer token, a JSON body when
 * there is one (its content type only then). The one way tests call the API with a key, so a
 * test reads as what it asks and what comes back.
 */

export interface ApiAnswer {
  status: number;
  /** The JSON answer; `{}` for an empty one (a 204). */
  body: Record<string, unknown>;
}

/**
 * A request to the API with a key: a JSON body, or with `contentType` (e.g. `text/csv`) a text
 * body sent as it is.
 */
export async function callApi(h: Pick<Harness, 'baseUrl'>, method: string, path: string, key: string, body?: unknown, contentType?: string): Promise<ApiAnswer> {
  const raw = contentType !== undefined && typeof body === 'string';
  const res = await fetch(h.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': contentType ?? 'application/json' } : {}) },
    ...(body !== undefined ? { body: raw ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
