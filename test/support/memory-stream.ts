import { Writable } from 'node:stream';

/** A stream that keeps every non-empty line written to it (a logger's output, for tests to read). */
export function memoryStream(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback): void {
      lines.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
      callback();
    },
  });
  return { stream, lines };
}
