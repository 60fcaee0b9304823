import twilio from 'twilio';
import type { SpeechVerb, Verb } from './verbs.js';

/**
 * The edge: verbs (./verbs.ts) → a TwiML document, through the Twilio SDK's builder, so the
 * XML (escaping, attribute order, the declaration) is what Twilio's own library writes. The only
 * place in calls/ that knows TwiML's syntax.
 */

const { VoiceResponse } = twilio.twiml;
type VR = InstanceType<typeof VoiceResponse>;
type Gather = ReturnType<VR['gather']>;

function speak(into: VR | Gather, s: SpeechVerb): void {
  if (s.verb === 'say') into.say(s.voice, s.text);
  else into.play({}, s.url);
}

export function renderTwiml(verbs: readonly Verb[]): string {
  const vr = new VoiceResponse();
  for (const v of verbs) {
    switch (v.verb) {
      case 'say':
      case 'play':
        speak(vr, v);
        break;
      case 'gather': {
        const g = vr.gather(v.attributes);
        for (const s of v.speech) speak(g, s);
        break;
      }
      case 'dial': {
        const d = vr.dial(v.attributes);
        if (v.numberAttributes) d.number(v.numberAttributes, v.number);
        else d.number(v.number);
        break;
      }
      case 'record':
        vr.record(v.attributes);
        break;
      case 'redirect':
        vr.redirect({ method: v.method }, v.url);
        break;
      case 'hangup':
        vr.hangup();
        break;
      default:
        return v satisfies never;
    }
  }
  return vr.toString();
}
