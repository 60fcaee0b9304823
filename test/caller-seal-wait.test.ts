import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyringNode, type EncryptedDataKey, type NodeDecryptionMaterial, type NodeEncryptionMaterial } from '@aws-crypto/client-node';
import { CALLER_SEAL_WAIT_MS, handleFlowWebhook } from '../src/calls/voice-service.js';
import type { VoiceWebhook } from '../src/calls/twilio-params.js';
import { parseTwiml } from '../devtools/simulator/twiml.js';
import { captureLogs } from '../src/log/logger.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { startHarness, type Harness } from './support/harness.js';
import { inboundParams } from './support/twilio-request.js';

/**
 * The caller's number is sealed for the call record while the first webhook runs. With KMS that
 * is a request to KMS; a KMS that never answers must cost the call its number on record, never
 * its answer: the webhook does not wait for the seal until its own deadline (the fail-safe).
 */

/** The keyring of a KMS that accepts the request and never answers. */
class SilentKms extends KeyringNode {
  _onEncrypt(_material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    return new Promise(() => undefined);
  }
  _onDecrypt(_material: NodeDecryptionMaterial, _keys: EncryptedDataKey[]): Promise<NodeDecryptionMaterial> {
    return new Promise(() => undefined);
  }
}

const CALLER = '+12025550177';
let h: Harness;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('caller_seal_wait');
});

afterAll(async () => {
  logs.restore();
  await h.close();
});

describe("the caller's number on record, with a KMS that does not answer", () => {
  it('the call is answered and recorded without the number (a warning, never the number, in the log)', async () => {
    const keyring = h.services.keyring;
    h.services.keyring = { ...keyring, keyring: new SilentKms() };
    const webhook = inboundParams({ From: CALLER, Caller: CALLER }) as unknown as VoiceWebhook;
    try {
      // The webhook's deadline is well past the seal's wait: without a bound on the wait, the deadline answers fail-safe.
      const twiml = await handleFlowWebhook(h.services, (id) => tenantScope(h.services, id), { kind: 'incoming' }, webhook, CALLER_SEAL_WAIT_MS * 8);
      expect(parseTwiml(twiml).some((v) => v.verb === 'Gather')).toBe(true);
    } finally {
      h.services.keyring = keyring;
    }
    const call = await h.services.db.selectFrom('calls').select(['from_enc', 'from_index', 'outcome']).where('call_sid', '=', webhook.CallSid).executeTakeFirstOrThrow();
    expect(call.from_enc).toBeNull();
    expect(call.from_index).not.toBeNull();
    expect(call.outcome).toBeNull();
    const text = logs.lines().join('\n');
    expect(text).toContain('caller number not sealed in time');
    expect(text).not.toContain(CALLER.slice(2));
  });
});
