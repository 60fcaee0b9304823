import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/**
 * FHIR Bulk Data NDJSON (one resource per line), read as a stream: one line in memory at a time,
 * whatever the file's size. Errors name the line number, never its content.
 */

/** A line longer than this is refused: no Patient or Appointment comes near it. */
export const MAX_NDJSON_LINE_CHARS = 1_000_000;

export class NdjsonError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'NdjsonError';
  }
}

export interface NdjsonLine {
  /** 1-based, counting blank lines too, as an editor would. */
  line: number;
  resource: Record<string, unknown>;
}

/** Each non-blank line parsed as a JSON object with a `resourceType`; the first bad one throws NdjsonError. */
export async function* readNdjson(input: Readable): AsyncGenerator<NdjsonLine> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const raw of lines) {
      n += 1;
      if (raw.trim() === '') continue;
      if (raw.length > MAX_NDJSON_LINE_CHARS) throw new NdjsonError(n, `longer than ${MAX_NDJSON_LINE_CHARS} characters`);
      yield { line: n, resource: parseLine(raw, n) };
    }
  } finally {
    lines.close();
  }
}

function parseLine(raw: string, n: number): Record<string, unknown> {
  // PostgreSQL refuses U+0000 in text: a resource carrying one is refused whole. (JSON can only
  // carry it escaped; a raw control character already fails to parse.)
  if (/\\u0000/i.test(raw)) throw new NdjsonError(n, 'must not contain a NUL character (U+0000)');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new NdjsonError(n, 'not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new NdjsonError(n, 'not a JSON object');
  if (typeof (value as { resourceType?: unknown }).resourceType !== 'string') throw new NdjsonError(n, 'resourceType: missing');
  return value as Record<string, unknown>;
}
