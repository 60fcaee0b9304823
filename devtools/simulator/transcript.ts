/**
 * What a simulated call produced, and how to read it: the result types of the call simulator
 * plus `heard` and `formatTranscript`.
 */

/** Who is on the line: the person who called us, or the provider we dialled. */
export type Party = 'caller' | 'provider';

export type DialStatus = 'completed' | 'answered' | 'no-answer' | 'busy' | 'failed' | 'canceled';

export type TranscriptEntry =
  | { kind: 'say'; text: string; language?: string; party: Party }
  | { kind: 'play'; url: string; party: Party }
  | { kind: 'press'; digits: string; party: Party }
  | { kind: 'silence'; party: Party }
  | { kind: 'pause'; seconds: number; party: Party }
  | { kind: 'record'; seconds: number; status: 'completed' | 'absent' | 'failed' }
  | {
      kind: 'dial';
      numbers: string[];
      /** The DialCallStatus Twilio reports for this <Dial>. */
      outcome: DialStatus;
      /** Whether the caller and the called party were actually connected. */
      bridged: boolean;
    }
  | { kind: 'redirect'; url: string }
  | {
      kind: 'hangup';
      /** The leg that ended; absent means the caller's leg. */
      party?: Party;
      /** True when the caller hung up (script `hangupAfterSteps`, or during <Record>), not the TwiML. */
      callerHungUp?: boolean;
    };

/** One HTTP request the simulator made, in the order made (the call's timeline). */
export interface SimulatedRequest {
  method: 'GET' | 'POST';
  /** Path and query string, as sent to the target (and signed under the public base URL). */
  path: string;
  params: Record<string, string>;
  /** HTTP status, or 0 when the request could not be sent. */
  status: number;
  body: string;
  /** 'twiml' requests must answer with TwiML; 'callback' requests are status callbacks. */
  kind: 'twiml' | 'callback';
  /** Which call leg the request belongs to. */
  party: Party;
}

export type CallEnd = 'hangup' | 'completed' | 'caller-hangup' | 'error' | 'max-steps';

export interface CallResult {
  callSid: string;
  transcript: TranscriptEntry[];
  requests: SimulatedRequest[];
  errors: string[];
  ended: CallEnd;
  /** CallStatus posted in the final status callback ('completed', or 'busy'/'no-answer' for <Reject>). */
  finalCallStatus: string;
  /** Simulated length of the call in seconds (CallDuration). */
  durationSeconds: number;
}

/** Everything the given party heard, in order, as one string (say text and `[play <url>]`). */
export function heard(result: Pick<CallResult, 'transcript'>, party: Party = 'caller'): string {
  const parts: string[] = [];
  for (const entry of result.transcript) {
    if (entry.kind === 'say' && entry.party === party) parts.push(entry.text);
    else if (entry.kind === 'play' && entry.party === party) parts.push(`[play ${entry.url}]`);
  }
  return parts.join(' ');
}

/** A readable transcript, one line per event, for CLI output and test failure messages. */
export function formatTranscript(result: CallResult): string {
  const lines = result.transcript.map(formatEntry);
  lines.push(`-- call ended: ${result.ended} (CallStatus ${result.finalCallStatus}, ${result.durationSeconds}s)`);
  for (const error of result.errors) lines.push(`!! ERROR: ${error}`);
  return lines.join('\n');
}

function who(party: Party): string {
  return party === 'caller' ? 'CALLER' : 'PROVIDER';
}

function formatEntry(entry: TranscriptEntry): string {
  switch (entry.kind) {
    case 'say':
      return `${who(entry.party)} HEARS: ${entry.text}${entry.language !== undefined ? ` [${entry.language}]` : ''}`;
    case 'play':
      return `${who(entry.party)} HEARS AUDIO: ${entry.url}`;
    case 'press':
      return `${who(entry.party)} PRESSES: ${entry.digits}`;
    case 'silence':
      return `${who(entry.party)} PRESSES NOTHING (timeout)`;
    case 'pause':
      return `${who(entry.party)} HEARS: (${entry.seconds}s pause)`;
    case 'record':
      return `RECORDING: ${entry.seconds}s (${entry.status})`;
    case 'dial':
      return `DIAL ${entry.numbers.join(', ')} → ${entry.outcome}${entry.bridged ? ' (bridged)' : ''}`;
    case 'redirect':
      return `REDIRECT → ${entry.url}`;
    case 'hangup':
      if (entry.callerHungUp === true) return 'CALLER HANGS UP';
      return entry.party === 'provider' ? 'HANGUP (provider leg)' : 'HANGUP';
    default:
      return entry satisfies never;
  }
}
