import { cliArgs } from './cli-support.js';
import { buildWeb, ensureWebBuilt, staleReason } from './web-bundle.js';

const USAGE = `usage: npm run build:web [-- --if-stale | --check]
  Builds the staff console (web/) into web/dist, which the service serves at /console/.
  --if-stale  build only when web/dist is missing or was built from other sources
              (a hash of web/ and package-lock.json; what npm start does)
  --check     build nothing; exit 1 when the bundle is missing or stale`;

const { values } = cliArgs(USAGE, { options: { 'if-stale': { type: 'boolean' }, check: { type: 'boolean' } } });

if (values.check) {
  const reason = await staleReason();
  process.stdout.write(reason === null ? 'console bundle is current\n' : `console bundle needs building: ${reason}\n`);
  process.exit(reason === null ? 0 : 1);
}
const started = Date.now();
if (values['if-stale']) {
  const { built, reason } = await ensureWebBuilt();
  if (built) process.stdout.write(`console built (${reason}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
} else {
  await buildWeb();
  process.stdout.write(`console built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
