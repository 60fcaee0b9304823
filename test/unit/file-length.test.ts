import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** A source file over this many lines says in its header why it is not split. */
const LIMIT = 400;
const HEADER_LINES = 60;

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

describe('long files in src/', () => {
  it(`every file over ${LIMIT} lines says why in its header ("Over ${LIMIT} lines because …")`, async () => {
    const src = path.join(import.meta.dirname, '../../src');
    const unexplained: string[] = [];
    for (const file of await sourceFiles(src)) {
      const lines = (await readFile(file, 'utf8')).replace(/\n$/, '').split('\n');
      if (lines.length <= LIMIT) continue;
      const header = lines.slice(0, HEADER_LINES).join('\n');
      if (!/Over 400 lines because \S/.test(header)) unexplained.push(path.relative(src, file));
    }
    expect(unexplained).toEqual([]);
  });
});
