import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallSimulator, heard, type CallResult } from '../devtools/simulator/simulator.js';
import { openCallbackNumber } from '../src/calls/callback-number.js';
import { loadCall } from '../src/calls/state-store.js';
import { captureLogs } from '../src/log/logger.js';
import { openTaskField } from '../src/tasks/sealed.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { until } from './support/until.js';

/**
 * A keyed callback number the caller has just confirmed, when PostgreSQL goes away at the very
 * moment it is written to the call record: the write is cut (its backend terminated, the fault
 * proxy stopped), and the number must not be lost. It is tried again briefly, then held (sealed)
 * in the call state in Redis, and landed by the call's next webhook or by its task. The caller
 * hears the flow go on, never silence; the number never reaches a log line.
 */

const PG_URL = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
const KEYED = '3105550188';
const KEYED_SHAPES = [KEYED, `+1${KEYED}`, '310-555-0188', '555-0188', '5550188'];
const AFTER_HOURS = new Date('2026-11-26T03:00:00Z');
const READ_BACK = 'You entered 3, 1, 0, 5, 5, 5, 0, 1, 8, 8. Press 1 if that is correct, 2 to try again.';
const MESSAGE = 'Please leave a message for the office after the tone';

let proxy: FaultProxy;
/** In the last case the call's state in Redis is lost at the same moment (a Redis restart without persistence). */
let loseStateToo = false;
let h: Harness;
let direct: pg.Client;
let logs: ReturnType<typeof captureLogs>;
let practiceId: string;

beforeAll(async () => {
  logs = captureLogs();
  proxy = await startFaultProxy(Number(PG_URL.port || 5432), PG_URL.hostname);
  const viaProxy = new URL(PG_URL.href);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  h = await startHarness('callback_fault', { DATABASE_URL: viaProxy.href }, { clock: () => AFTER_HOURS });
  direct = new pg.Client({ connectionString: PG_URL.href });
  await direct.connect();
  practiceId = (await h.services.db.selectFrom('practice_numbers').select('practice_id').where('e164', '=', PRACTICE).executeTakeFirstOrThrow()).practice_id;
});
afterAll(async () => {
  proxy.restore();
  await direct.query(`DROP TRIGGER IF EXISTS callback_fault ON "${h.schema}".calls`);
  await direct.end();
  await h.close();
  await proxy.close();
  logs.restore();
});

/**
 * The next write of a keyed number to the call record stalls in PostgreSQL (once: a sequence
 * counts, outside any transaction); there it is cut: its backend terminated, the proxy stopped.
 * PostgreSQL comes back when the webhook that wrote it has answered the caller.
 */
async function cutAtTheKeyedWrite(): Promise<{ cut: () => boolean; afterResponse: () => void; stopWatching: () => void }> {
  const s = `"${h.schema}"`;
  await direct.query(`CREATE SEQUENCE IF NOT EXISTS ${s}.callback_fault_seq`);
  await direct.query(`SELECT setval('${s}.callback_fault_seq', 1, false)`);
  await direct.query(`GRANT USAGE, SELECT, UPDATE ON SEQUENCE ${s}.callback_fault_seq TO PUBLIC`);
  await direct.query(`
    CREATE OR REPLACE FUNCTION ${s}.callback_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.callback_source = 'keyed' AND nextval('${s}.callback_fault_seq') = 1 THEN PERFORM pg_sleep(5); END IF;
      RETURN NEW;
    END $$`);
  await direct.query(`DROP TRIGGER IF EXISTS callback_fault ON ${s}.calls`);
  await direct.query(`CREATE TRIGGER callback_fault BEFORE UPDATE OF callback_number_enc ON ${s}.calls FOR EACH ROW EXECUTE FUNCTION ${s}.callback_fault()`);
  let cut = false;
  let restored = false;
  let watching = true;
  const watcher = (async () => {
    while (watching && !cut) {
      const stalled = await direct.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%callback_number_enc%' AND pid <> pg_backend_pid()`,
      );
      const pid = stalled.rows[0]?.pid;
      if (pid !== undefined) {
        proxy.stop();
        if (loseStateToo) await loseCallStates();
        await direct.query('SELECT pg_terminate_backend($1)', [pid]);
        cut = true;
      } else await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    cut: () => cut,
    afterResponse: () => {
      if (cut && !restored) {
        restored = true;
        proxy.restore();
      }
    },
    stopWatching: () => {
      watching = false;
      void watcher;
    },
  };
}

async function heldIn(callSid: string): Promise<string | null> {
  const raw = await h.services.redis.get(`call:{${callSid}}`);
  return raw;
}

async function callRow(callSid: string) {
  return h.services.db.selectFrom('calls').select(['callback_number_enc', 'callback_source']).where('call_sid', '=', callSid).executeTakeFirstOrThrow();
}

async function storedNumber(callSid: string): Promise<string | null> {
  const row = await callRow(callSid);
  return row.callback_number_enc ? openCallbackNumber(h.services.keyring, row.callback_number_enc, callSid, practiceId) : null;
}

/**
 * A caller keys a callback number, confirms it and hangs up a step later, PostgreSQL cut as the
 * number is written (restored after the call); the cut is checked to have happened.
 */
async function hangUpAfterConfirmingWithACut(): Promise<CallResult> {
  const fault = await cutAtTheKeyedWrite();
  const sim = new CallSimulator({
    targetBaseUrl: h.baseUrl,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
    authToken: TEST_AUTH_TOKEN,
    accountSid: TEST_ACCOUNT_SID,
    now: () => AFTER_HOURS,
    fetchImpl: async (input, init) => {
      const res = await fetch(input, init);
      fault.afterResponse();
      return res;
    },
  });
  let result: CallResult;
  try {
    result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2', '2', KEYED, '1'], hangupAfterSteps: 6 });
  } finally {
    fault.stopWatching();
    proxy.restore();
  }
  expect(fault.cut()).toBe(true);
  return result;
}

describe('a confirmed keyed callback number when PostgreSQL is cut as it is written', () => {
  it('is held sealed in the call state, landed by the next webhook; the caller goes on to the message', { timeout: 40_000 }, async () => {
    const fault = await cutAtTheKeyedWrite();
    const statesAfterCut: string[] = [];
    let sid = '';
    const sim = new CallSimulator({
      targetBaseUrl: h.baseUrl,
      publicBaseUrl: TEST_PUBLIC_BASE_URL,
      authToken: TEST_AUTH_TOKEN,
      accountSid: TEST_ACCOUNT_SID,
      now: () => AFTER_HOURS,
      fetchImpl: async (input, init) => {
        const res = await fetch(input, init);
        if (fault.cut() && statesAfterCut.length === 0) {
          const params = new URLSearchParams(typeof init?.body === 'string' ? init.body : '');
          sid = params.get('CallSid') ?? '';
          // Before PostgreSQL is back: the number is in the call state, sealed, and nowhere in PostgreSQL.
          statesAfterCut.push((await heldIn(sid)) ?? '');
        }
        fault.afterResponse();
        return res;
      },
    });
    let result: CallResult;
    try {
      result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2', '2', KEYED, '1'], recordings: [{ durationSeconds: 12, digits: '#' }] });
    } finally {
      fault.stopWatching();
      proxy.restore();
    }
    expect(fault.cut()).toBe(true);
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text).toContain(READ_BACK);
    // The caller heard the flow go on to the message, after the read-back: never silence, never the fail-safe.
    expect(text.indexOf(MESSAGE)).toBeGreaterThan(text.indexOf(READ_BACK));
    expect(sid).toBe(result.callSid);

    const held = JSON.parse(statesAfterCut[0] ?? '{}') as { state?: { heldCallbackNumber?: { sealed: string } | null } };
    expect(held.state?.heldCallbackNumber?.sealed).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(KEYED_SHAPES.filter((shape) => (statesAfterCut[0] ?? '').includes(shape))).toEqual([]);

    // Landed on the call record by the next webhook, and let go from the call state.
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
    expect((await callRow(result.callSid)).callback_source).toBe('keyed');
    expect((await loadCall(h.services.redis, result.callSid))?.state.heldCallbackNumber ?? null).toBeNull();

  });

  it('a caller who hangs up just after confirming: the task made from the call finds the number held in the call state', { timeout: 40_000 }, async () => {
    const result = await hangUpAfterConfirmingWithACut();
    expect(result.errors).toEqual([]);
    expect(heard(result)).toContain(READ_BACK);
    const task = await until('the abandoned-call task', async () =>
      h.services.db.selectFrom('callback_tasks').select(['id', 'callback_enc', 'source']).where('call_sid', '=', result.callSid).executeTakeFirst(),
    );
    expect(task.source).toBe('abandoned_call');
    expect(await openTaskField(h.services.keyring, 'callback', task.callback_enc ?? Buffer.alloc(0), task.id, practiceId)).toBe(`+1${KEYED}`);
    // Landed on the call record on the way.
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
  });
});

/** Every call's state under the test's prefix deleted (their step claims and replay stay). */
async function loseCallStates(): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await h.services.redis.scan(cursor, 'MATCH', `${h.keyPrefix}call:{*}`, 'COUNT', 500);
    cursor = next;
    for (const full of keys) if (/call:\{[^}]+\}$/.test(full)) await h.services.redis.del(full.slice(h.keyPrefix.length));
  } while (cursor !== '0');
}

describe("when the call's state in Redis is lost at the same moment", () => {
  it('the number is lost, but never silently: call.callback_number_lost on the call once PostgreSQL answers; the caller still goes on', { timeout: 60_000 }, async () => {
    loseStateToo = true;
    let result: CallResult;
    try {
      result = await hangUpAfterConfirmingWithACut();
    } finally {
      loseStateToo = false;
    }
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text).toContain(READ_BACK);
    // The step's answer was worked out before the cut: the caller hears the flow go on.
    expect(text.indexOf(MESSAGE)).toBeGreaterThan(text.indexOf(READ_BACK));
    expect(await loadCall(h.services.redis, result.callSid)).toBeNull();
    const lost = await until(
      'the loss on the audit trail',
      async () => {
        const rows = await h.services.db.selectFrom('audit_log').select(['actor', 'details', 'call_sid']).where('action', '=', 'call.callback_number_lost').where('call_sid', '=', result.callSid).execute();
        return rows.length > 0 ? rows : undefined;
      },
      45_000,
    );
    expect(lost).toEqual([{ actor: 'system', details: { source: 'keyed' }, call_sid: result.callSid }]);
    expect(await storedNumber(result.callSid)).toBeNull();
  });
});

describe('logs of the faults above', () => {
  it('say what happened, without the number', () => {
    const lines = logs.lines();
    expect(lines.some((l) => l.includes('holding it (sealed) in the call state'))).toBe(true);
    expect(lines.some((l) => l.includes('keyed callback number neither written nor held'))).toBe(true);
    expect(lines.filter((l) => KEYED_SHAPES.some((shape) => l.includes(shape)))).toEqual([]);
  });
});
