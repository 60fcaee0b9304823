import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CallSidSchema } from '../calls/twilio-params.js';
import { logger } from '../log/logger.js';

/**
 * The recording spool: where a completed recording's callback is kept when PostgreSQL cannot
 * take it. Twilio does not resend a callback it got a 2xx for, so a callback is acknowledged
 * only once it is durable: in a `voicemails` row, or else here — one JSON line appended to
 * `<DATA_DIR>/spool/recordings.jsonl` and fsynced before the answer. Ids only (CallSid,
 * RecordingSid, the flow's node and urgency): no PHI, no recording URL.
 *
 * Replay moves the file aside (`recordings.<stamp>.replay`, an atomic rename, so callbacks
 * arriving meanwhile start a new file), hands each entry to the caller, appends the entries that
 * must wait back to the live file, and only then deletes the moved file. A crash mid-replay
 * leaves the moved file, replayed again next time: entries must be idempotent (they are: one
 * voicemail per RecordingSid). Appends wait only for the rename and for the append back, never
 * for the handling of an entry (which has no deadline of its own): a callback arriving during a
 * slow replay is spooled and answered at once.
 *
 * An entry tried and not done counts a try (`tries`, kept in the entry); after SPOOL_MAX_TRIES it
 * is dead-lettered: moved to `spool/dead.jsonl` (kept, never replayed again) so it cannot hold up
 * the entries behind it. The caller audits and logs it.
 */

export const SpoolEntrySchema = z.object({
  v: z.literal(1),
  /** When the callback arrived (ISO 8601). */
  at: z.iso.datetime(),
  callSid: CallSidSchema,
  accountSid: z.string().regex(/^AC[0-9a-f]{32}$/),
  recordingSid: z.string().regex(/^RE[0-9a-f]{32}$/),
  durationSeconds: z.number().int().min(-1).nullable(),
  node: z.string().max(64).nullable(),
  urgency: z.enum(['urgent', 'routine']).nullable(),
  verified: z.boolean(),
  /** Replays that tried this entry and did not finish it. */
  tries: z.number().int().min(0).max(1_000).optional(),
});
export type SpoolEntry = z.infer<typeof SpoolEntrySchema>;

/** What replay does with an entry: gone from the spool, or kept for the next replay. */
export type SpoolOutcome = 'done' | 'retry';

export interface RecordingSpool {
  readonly dir: string;
  /** Appends and fsyncs; resolves only once the entry is on disk. */
  append(entry: SpoolEntry): Promise<void>;
  /** Entries waiting (live file and any replay left by a crash). */
  pending(): Promise<number>;
  /**
   * Offers every waiting entry to `handle`, one at a time; one replay at a time. `deadLettered`:
   * the RecordingSids of the entries moved to the dead-letter file by this replay.
   */
  replay(handle: (entry: SpoolEntry) => Promise<SpoolOutcome>, opts?: { maxTries?: number }): Promise<SpoolReplayResult>;
}

export interface SpoolReplayResult {
  done: number;
  kept: number;
  unreadable: number;
  deadLettered: string[];
}

/** Replays that may try an entry and fail before it is dead-lettered. */
export const SPOOL_MAX_TRIES = 5;

const LIVE = 'recordings.jsonl';
export const SPOOL_DEAD_FILE = 'dead.jsonl';
const REPLAY = /^recordings\.[0-9a-z-]{1,40}\.replay$/;

async function appendDurably(file: string, text: string): Promise<void> {
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.appendFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of the directory: a new or renamed file's name is durable too. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function parseLines(text: string): { entries: SpoolEntry[]; unreadable: number } {
  const entries: SpoolEntry[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      // A line torn by a crash mid-write: its callback was never acknowledged, so Twilio resent it.
      unreadable += 1;
      continue;
    }
    const entry = SpoolEntrySchema.safeParse(parsed);
    if (entry.success) entries.push(entry.data);
    else unreadable += 1;
  }
  return { entries, unreadable };
}

export function createRecordingSpool(dataDir: string): RecordingSpool {
  const dir = path.join(dataDir, 'spool');
  const live = path.join(dir, LIVE);
  // Appends and replays take turns: a replay never moves the file under a half-written append.
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const next = turn.then(work, work);
    turn = next.catch(() => undefined);
    return next;
  };
  // One replay at a time (its moved files are its own while it runs).
  let replaying: Promise<unknown> = Promise.resolve();
  const oneReplay = <T>(work: () => Promise<T>): Promise<T> => {
    const next = replaying.then(work, work);
    replaying = next.catch(() => undefined);
    return next;
  };
  let dirReady = false;
  const ensureDir = async (): Promise<void> => {
    if (dirReady) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await syncDir(path.dirname(dir));
    dirReady = true;
  };
  const replayFiles = async (): Promise<string[]> => {
    try {
      return (await readdir(dir)).filter((f) => REPLAY.test(f)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };
  const readEntries = async (file: string): Promise<{ entries: SpoolEntry[]; unreadable: number }> => {
    try {
      return parseLines(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], unreadable: 0 };
      throw err;
    }
  };

  return {
    dir,
    append: (entry) =>
      inTurn(async () => {
        const line = JSON.stringify(SpoolEntrySchema.parse(entry)) + '\n';
        await ensureDir();
        await appendDurably(live, line);
        await syncDir(dir);
      }),
    pending: async () => {
      let n = (await readEntries(live)).entries.length;
      for (const f of await replayFiles()) n += (await readEntries(path.join(dir, f))).entries.length;
      return n;
    },
    replay: (handle, opts = {}) =>
      oneReplay(async () => {
        const maxTries = opts.maxTries ?? SPOOL_MAX_TRIES;
        const result: SpoolReplayResult = { done: 0, kept: 0, unreadable: 0, deadLettered: [] };
        // In turn with appends: only the rename (an append never has its file moved mid-write).
        const files = await inTurn(async () => {
          const { entries: liveEntries } = await readEntries(live);
          if (liveEntries.length > 0) {
            const stamp = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
            await rename(live, path.join(dir, `recordings.${stamp}.replay`));
            await syncDir(dir);
          }
          return replayFiles();
        });
        // Moved files belong to this replay alone (one replay at a time): read and handled outside the turn.
        for (const f of files) {
          const file = path.join(dir, f);
          const { entries, unreadable } = await readEntries(file);
          result.unreadable += unreadable;
          const keep: SpoolEntry[] = [];
          const dead: SpoolEntry[] = [];
          let stalled = false;
          for (const entry of entries) {
            // Once one entry must wait (the database failed again), the rest wait with it, untried.
            if (stalled) {
              keep.push(entry);
              continue;
            }
            let outcome: SpoolOutcome = 'retry';
            try {
              outcome = await handle(entry);
            } catch (err) {
              logger.warn('spooled recording not replayed yet', { err });
            }
            if (outcome === 'done') {
              result.done += 1;
              continue;
            }
            const tried = { ...entry, tries: (entry.tries ?? 0) + 1 };
            if (tried.tries >= maxTries) {
              // This entry fails where others might not: set aside, so it cannot block the rest.
              dead.push(tried);
              result.deadLettered.push(entry.recordingSid);
            } else {
              keep.push(tried);
              stalled = true;
            }
          }
          // What must wait goes back to the live file (durably) before the moved file goes: in turn with appends.
          await inTurn(async () => {
            await ensureDir();
            if (dead.length > 0) await appendDurably(path.join(dir, SPOOL_DEAD_FILE), dead.map((e) => JSON.stringify(e) + '\n').join(''));
            if (keep.length > 0) await appendDurably(live, keep.map((e) => JSON.stringify(e) + '\n').join(''));
            await unlink(file);
            await syncDir(dir);
          });
          result.kept += keep.length;
        }
        return result;
      }),
  };
}
