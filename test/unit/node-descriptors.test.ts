import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import { checkFlowGraph } from '../../src/calls/flow-graph.js';
import { parseFlowDocument } from '../../src/calls/flow-schema.js';
import { NODES } from '../../src/calls/nodes/index.js';
import { renderTwiml } from '../../src/calls/render-twiml.js';
import type { Verb } from '../../src/calls/verbs.js';
import { minimalDoc } from '../fixtures/flows/docs.js';

const FILE = 'callflows/test.yaml';

describe('node descriptors', () => {
  describe('the disclosure rule keys on readsPatientFacts', () => {
    const say = NODES.say as { readsPatientFacts: boolean };
    afterEach(() => {
      say.readsPatientFacts = false;
    });

    it('refuses any kind that reads patient facts before verification, not only disclose', () => {
      const flow = parseFlowDocument(minimalDoc(), FILE);
      expect(checkFlowGraph(flow)).toEqual([]);
      // The greeting (a say) is reached without verification: once its kind reads patient facts, the rule refuses it.
      say.readsPatientFacts = true;
      expect(checkFlowGraph(flow)).toContainEqual({ file: FILE, node: 'greeting', message: 'say reachable without verification: greeting' });
    });
  });

  it('keeps the engine and the node kinds free of the Twilio SDK (verbs are data; TwiML is rendered at the edge)', () => {
    const dir = join(import.meta.dirname, '../../src/calls');
    const files = ['engine.ts', 'turn.ts', ...readdirSync(join(dir, 'nodes')).map((f) => join('nodes', f))];
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/from 'twilio(\/[^']*)?'/);
  });
});

describe('renderTwiml', () => {
  it('writes what the Twilio SDK writes for the same verbs', () => {
    const verbs: Verb[] = [
      { verb: 'say', voice: { voice: 'Polly.Joanna', language: 'en-US' }, text: 'Hello & welcome <caller>.' },
      {
        verb: 'gather',
        attributes: { numDigits: 1, timeout: 6, action: '/twilio/voice/flow?s=1&n=menu', method: 'POST', actionOnEmptyResult: true, language: 'en-US' },
        speech: [{ verb: 'play', url: 'https://example.test/audio/menu.mp3' }, { verb: 'say', voice: { voice: 'Polly.Lupe', language: 'es-US' }, text: 'Hola.' }],
      },
      {
        verb: 'dial',
        attributes: { action: '/twilio/voice/flow?s=1&n=oncall', method: 'POST', timeout: 20, answerOnBridge: true },
        number: '+12025550111',
        numberAttributes: { url: '/twilio/voice/whisper?parent=CA1&a=0', method: 'POST', machineDetection: 'Enable', statusCallback: '/twilio/voice/status', statusCallbackEvent: ['initiated', 'completed'], statusCallbackMethod: 'POST' },
      },
      { verb: 'dial', attributes: { timeout: 30, action: '/twilio/voice/fail-safe-dial' }, number: '+12025550199' },
      { verb: 'redirect', method: 'POST', url: '/twilio/voice/flow?s=1&n=vm&empty=1' },
      { verb: 'hangup' },
    ];
    const vr = new twilio.twiml.VoiceResponse();
    vr.say({ voice: 'Polly.Joanna', language: 'en-US' }, 'Hello & welcome <caller>.');
    const g = vr.gather({ numDigits: 1, timeout: 6, action: '/twilio/voice/flow?s=1&n=menu', method: 'POST', actionOnEmptyResult: true, language: 'en-US' });
    g.play({}, 'https://example.test/audio/menu.mp3');
    g.say({ voice: 'Polly.Lupe', language: 'es-US' }, 'Hola.');
    vr.dial({ action: '/twilio/voice/flow?s=1&n=oncall', method: 'POST', timeout: 20, answerOnBridge: true }).number(
      { url: '/twilio/voice/whisper?parent=CA1&a=0', method: 'POST', machineDetection: 'Enable', statusCallback: '/twilio/voice/status', statusCallbackEvent: ['initiated', 'completed'], statusCallbackMethod: 'POST' },
      '+12025550111',
    );
    vr.dial({ timeout: 30, action: '/twilio/voice/fail-safe-dial' }).number('+12025550199');
    vr.redirect({ method: 'POST' }, '/twilio/voice/flow?s=1&n=vm&empty=1');
    vr.hangup();
    expect(renderTwiml(verbs)).toBe(vr.toString());
  });

  it('renders a record verb with its status callback', () => {
    const xml = renderTwiml([
      {
        verb: 'record',
        attributes: { action: '/a', method: 'POST', maxLength: 120, playBeep: true, finishOnKey: '#', timeout: 8, trim: 'trim-silence', recordingStatusCallback: '/r?n=vm', recordingStatusCallbackMethod: 'POST', recordingStatusCallbackEvent: ['completed', 'absent'] },
      },
    ]);
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Record action="/a" method="POST" maxLength="120" playBeep="true" finishOnKey="#" timeout="8" trim="trim-silence" recordingStatusCallback="/r?n=vm" recordingStatusCallbackMethod="POST" recordingStatusCallbackEvent="completed absent"/></Response>',
    );
  });
});
