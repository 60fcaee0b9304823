import type { Redis } from 'ioredis';
import type { CallState, EngineEvent } from './engine.js';
import type { SealedNumber } from './turn.js';

/**
 * Call state in Redis, keyed by CallSid, with a TTL. It holds ids, counters and the language —
 * never PHI in clear (no numbers, digits, names or dates): a callback number the caller keyed
 * is held sealed (./callback-number.ts), as ciphertext and its blind index. One runtime for every IVR: a call flow's
 * state (the defaults, CallState and EngineEvent) and the provider access line's
 * (voicemail/access-line.ts) are stored, claimed and replayed by the same functions.
 */

export const CALL_STATE_TTL_SECONDS = 4 * 60 * 60;
const REPLAY_DEPTH = 3;

/** What a webhook changed, kept so that Twilio's retry of it gets the same answer. */
export interface ReplayEntry<S = CallState, E = EngineEvent> {
  step: number;
  before: S;
  event: E;
  /** When the step first ran (ISO): its replay runs as of then (office hours, the next appointment). */
  at?: string;
}

/** `state.step`: the step the next webhook must carry (steps before it are in `replay`). */
export interface StoredCall<S extends { step: number } = CallState, E = EngineEvent> {
  state: S;
  replay: Array<ReplayEntry<S, E>>;
}

/** Every key of one call carries the call SID as a hash tag: one slot, so the call's scripts also run on Redis Cluster. */
export const callKey = (callSid: string): string => `call:{${callSid}}`;
const key = callKey;

export async function loadCall<S extends { step: number } = CallState, E = EngineEvent>(redis: Redis, callSid: string): Promise<StoredCall<S, E> | null> {
  const raw = await redis.get(key(callSid));
  return raw ? (JSON.parse(raw) as StoredCall<S, E>) : null;
}

/** A concurrent duplicate waits this long for the first delivery's answer to replay it. */
const DUPLICATE_WAIT_MS = 4_000;
const DUPLICATE_POLL_MS = 20;

/**
 * A duplicate of a step whose first delivery holds the claim: wait until the first has saved
 * what it did (at once if it is long done). Null if it never does (it failed, and its caller
 * got the fail-safe answer).
 */
export async function awaitFirstDelivery<S extends { step: number } = CallState, E = EngineEvent>(redis: Redis, callSid: string, step: number): Promise<StoredCall<S, E> | null> {
  const until = Date.now() + DUPLICATE_WAIT_MS;
  for (;;) {
    const stored = await loadCall<S, E>(redis, callSid);
    if (stored && stored.state.step > step) return stored;
    if (Date.now() >= until) return null;
    await new Promise((resolve) => setTimeout(resolve, DUPLICATE_POLL_MS));
  }
}

/**
 * Claims one step of one call, atomically across instances: true for the first webhook that
 * gets here, false for a concurrent duplicate. Only the claimant writes audit events.
 */
export async function claimStep(redis: Redis, callSid: string, step: number): Promise<boolean> {
  const ok = await redis.set(`${key(callSid)}:step:${step}`, '1', 'EX', CALL_STATE_TTL_SECONDS, 'NX');
  return ok === 'OK';
}

/** What the provider did in the whisper of one dial attempt, for the parent call's <Dial> action to read. */
export async function setWhisperOutcome(redis: Redis, callSid: string, attempt: number, outcome: string): Promise<void> {
  await redis.set(`${key(callSid)}:attempt:${attempt}`, outcome, 'EX', CALL_STATE_TTL_SECONDS);
}

export async function getWhisperOutcome(redis: Redis, callSid: string, attempt: number): Promise<string | null> {
  return redis.get(`${key(callSid)}:attempt:${attempt}`);
}

/** Claims step 0 (NX) and, only if the claim is won, saves the state: one round trip. */
const START_CALL = `
if redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
  return 1
end
return 0
`;

/**
 * A call's first webhook: claims its step 0 and saves the state it leads to, atomically and in
 * one round trip. True for the first delivery; false for a duplicate, which saves nothing (the
 * first delivery's state is already there for it to replay).
 */
export async function startCall<S extends { step: number } = CallState, E = EngineEvent>(redis: Redis, callSid: string, entry: ReplayEntry<S, E>, state: S): Promise<boolean> {
  const stored = JSON.stringify({ state, replay: [entry] } satisfies StoredCall<S, E>);
  const won = await redis.eval(START_CALL, 2, `${key(callSid)}:step:0`, key(callSid), CALL_STATE_TTL_SECONDS, stored);
  return won === 1;
}

export async function saveCall<S extends { step: number } = CallState, E = EngineEvent>(
  redis: Redis,
  callSid: string,
  prior: StoredCall<S, E> | null,
  entry: ReplayEntry<S, E>,
  state: S,
): Promise<void> {
  const replay = [...(prior?.replay ?? []), entry].slice(-REPLAY_DEPTH);
  await redis.set(key(callSid), JSON.stringify({ state, replay } satisfies StoredCall<S, E>), 'EX', CALL_STATE_TTL_SECONDS);
}

/**
 * Puts a confirmed callback number (sealed) into the call's stored state, its TTL kept, for a
 * later webhook or the call's task to land on the call record (PostgreSQL refused it when it was
 * confirmed). Throws when there is no state to hold it in.
 */
export async function holdCallbackNumber(redis: Redis, callSid: string, number: SealedNumber): Promise<void> {
  const raw = await redis.get(key(callSid));
  if (raw === null) throw new Error('no call state to hold the callback number in');
  const stored = JSON.parse(raw) as StoredCall;
  stored.state = { ...stored.state, heldCallbackNumber: number };
  await redis.set(key(callSid), JSON.stringify(stored), 'KEEPTTL');
}
