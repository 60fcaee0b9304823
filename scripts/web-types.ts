import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { cliArgs } from './cli-support.js';
import { generatedWebTypes, GENERATED_WEB_TYPES_PATH } from './web-types-source.js';

const USAGE = `usage: npm run web:types [-- --check]
  Writes web/src/api/generated.ts: one TypeScript type per named schema of the OpenAPI document
  (components.schemas), for the console to use instead of hand-written copies.
  --check  write nothing; exit 1 when the committed file differs from what would be written`;

const { values } = cliArgs(USAGE, { options: { check: { type: 'boolean' } } });

const target = fileURLToPath(new URL(`../${GENERATED_WEB_TYPES_PATH}`, import.meta.url));
const text = generatedWebTypes();
if (values.check) {
  const current = await readFile(target, 'utf8').catch(() => '');
  const same = current === text;
  process.stdout.write(same ? `${GENERATED_WEB_TYPES_PATH} is current\n` : `${GENERATED_WEB_TYPES_PATH} is stale: run npm run web:types\n`);
  process.exit(same ? 0 : 1);
}
await writeFile(target, text);
process.stdout.write(`wrote ${GENERATED_WEB_TYPES_PATH}\n`);
