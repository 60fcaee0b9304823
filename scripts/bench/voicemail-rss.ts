/**
 * Child process of bench "voicemail" (./voicemail.ts): one pass over the 50 MiB recording in a
 * fresh process, sampling `process.memoryUsage().rss` every 20 ms. Prints its figures as one JSON
 * line (`RssFigures`) on stdout.
 *
 *   node --import tsx scripts/bench/voicemail-rss.ts <subject|baseline> <data dir>
 *
 * subject:  encryptingStream -> local storage.put (the voicemail pipeline's encrypt-and-store)
 * baseline: raw AES-256-GCM (createCipheriv) -> file + fsync
 * Both modes load the same modules and set up the same keyring and storage before "before".
 */
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  benchContext,
  encryptAndStore,
  localAdapters,
  makeBlock,
  rawAesGcmToFile,
  recordingSource,
  type RssFigures,
} from './voicemail.js';

const SAMPLE_MS = 20;

async function main(): Promise<void> {
  const [mode, dataDir] = process.argv.slice(2);
  if ((mode !== 'subject' && mode !== 'baseline') || !dataDir) {
    throw new Error('usage: voicemail-rss.ts <subject|baseline> <data dir>');
  }
  const { keyring, storage } = await localAdapters(dataDir);
  const block = makeBlock();

  const beforeBytes = process.memoryUsage().rss;
  let peakBytes = beforeBytes;
  let samples = 0;
  const sample = (): void => {
    peakBytes = Math.max(peakBytes, process.memoryUsage().rss);
    samples++;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  const started = process.hrtime.bigint();
  try {
    if (mode === 'subject') {
      const key = `bench/rss-${process.pid}.enc`;
      await encryptAndStore(keyring, storage, recordingSource(block), key, benchContext(`rss-${process.pid}`));
      sample();
      await storage.delete(key);
    } else {
      const file = path.join(dataDir, `rss-${process.pid}.bin`);
      try {
        await rawAesGcmToFile(recordingSource(block), file, { fsync: true });
        sample();
      } finally {
        await unlink(file).catch(() => undefined);
      }
    }
  } finally {
    clearInterval(timer);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const figures: RssFigures = {
    mode,
    beforeBytes,
    peakBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    samples,
    seconds,
  };
  console.log(JSON.stringify(figures));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
