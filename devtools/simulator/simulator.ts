/**
 * A call simulator that plays Twilio against our HTTP server.
 *
 * It posts signed webhooks the way Twilio does, walks the TwiML that comes back verb by verb,
 * feeds the caller's (and the dialled provider's) key presses from a script, and records what
 * everyone heard, every request made and every error. It never throws for a misbehaving
 * server: tests assert on `CallResult.errors`. It never calls out to the internet: URLs that
 * are not under the public base URL are refused.
 */
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import {
  parseTwiml,
  type CallProgressEvent,
  type DialNoun,
  type DialVerb,
  type GatherVerb,
  type HttpMethod,
  type PromptVerb,
  type RecordVerb,
  type TwimlVerb,
} from './twiml.js';
import type {
  CallEnd,
  CallResult,
  DialStatus,
  Party,
  SimulatedRequest,
  TranscriptEntry,
} from './transcript.js';

export type { CallEnd, CallResult, DialStatus, Party, SimulatedRequest, TranscriptEntry } from './transcript.js';
export { formatTranscript, heard } from './transcript.js';

export interface SimulatorOptions {
  /** Where requests are actually sent, e.g. http://127.0.0.1:54321 */
  targetBaseUrl: string;
  /** The URL Twilio "sees" and signs, e.g. https://ahl.example.test (the service sits behind a proxy). */
  publicBaseUrl: string;
  authToken: string;
  accountSid: string;
  /** Defaults to the global fetch. */
  fetchImpl?: typeof fetch;
  /** Start time of simulated calls; defaults to the wall clock. */
  now?: () => Date;
  /** Loop guard: the most TwiML documents one call may fetch (all legs). Default 100. */
  maxSteps?: number;
  /** Base of the RecordingUrl Twilio reports (a loopback double in tests). Default https://api.twilio.com. */
  twilioApiBaseUrl?: string;
  /** Called with each new recording before its callbacks are posted (so a double can hold the media). */
  onRecording?: (recording: { recordingSid: string; callSid: string; seconds: number; status: string }) => void | Promise<void>;
}

export interface DialOutcome {
  status: DialStatus;
  /** Seconds the caller and the called party talked once bridged. Default 60. */
  duration?: number;
  /**
   * Keys the called party presses inside the whisper TwiML (`<Number url>`), one entry per
   * `<Gather>` there: a string is the keys, null is silence. A single value feeds one Gather.
   */
  whisperDigits?: string | null | Array<string | null>;
  /** `AnsweredBy` on the whisper request when the noun has `machineDetection`. Default 'human'. */
  answeredBy?: string;
  /** Which `<Dial>` noun answers when several ring at once. Default 0. */
  answeredIndex?: number;
}

export interface RecordingOutcome {
  /** Seconds of audio; default 10, capped at the verb's maxLength. */
  durationSeconds?: number;
  /** 'absent' = the caller said nothing (Twilio skips the action and runs the next verb). */
  status?: 'completed' | 'absent' | 'failed';
  /** The finishOnKey the caller pressed. Unset: the caller hung up to end the recording. */
  digits?: string;
}

export interface CallScript {
  /** E.164 */
  from: string;
  /** E.164 */
  to: string;
  /** Default '/twilio/voice/incoming'; may carry a query string. */
  incomingPath?: string;
  /** Default '/twilio/voice/status'. */
  statusPath?: string;
  /** Default: random 'CA' + 32 hex. */
  callSid?: string;
  /** One entry per caller `<Gather>`: keys pressed, or null for silence (timeout). Missing entries are silence. */
  digits?: Array<string | null>;
  /** One per `<Dial>`. Missing entries are 'no-answer'. */
  dialOutcomes?: DialOutcome[];
  /** One per `<Record>`. Missing entries are 'absent' (the caller said nothing). */
  recordings?: RecordingOutcome[];
  /**
   * The caller hangs up once this many TwiML documents have reached them: after hearing the
   * last one's prompts, at its first verb that waits for them or leads elsewhere.
   */
  hangupAfterSteps?: number;
  /** Merged into the incoming webhook's parameters (e.g. to test malformed input). */
  extraParams?: Record<string, string>;
}

const DEFAULT_INCOMING_PATH = '/twilio/voice/incoming';
const DEFAULT_STATUS_PATH = '/twilio/voice/status';
const API_VERSION = '2010-04-01';
/** Twilio gives up on a webhook after 15 s in all. */
const REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_TALK_SECONDS = 60;
const DEFAULT_RECORDING_SECONDS = 10;
const RING_SECONDS = 6;

/** Places simulated calls against one service. Safe to reuse for many calls. */
export class CallSimulator {
  constructor(private readonly options: SimulatorOptions) {
    // Fail fast on a bad configuration rather than on the first request.
    new URL(options.targetBaseUrl);
    new URL(options.publicBaseUrl);
  }

  async placeCall(script: CallScript): Promise<CallResult> {
    return new CallRun(this.options, script).run();
  }
}

// ---------------------------------------------------------------------------
// One simulated call

/** A URL under the public base, with where it is actually sent. */
interface Endpoint {
  /** What Twilio would request and sign: publicBaseUrl + path. */
  publicUrl: string;
  /** Where the simulator sends it: targetBaseUrl + path. */
  targetUrl: string;
  /** Path and query string, relative to both bases. */
  path: string;
}

interface Fetch {
  endpoint: Endpoint;
  method: HttpMethod;
  params: Record<string, string>;
}

interface TwimlDocument {
  verbs: TwimlVerb[];
  endpoint: Endpoint;
}

/** How a leg's TwiML ended. */
type LegEnd =
  | { kind: 'completed' }
  | { kind: 'hangup' }
  | { kind: 'rejected'; reason: 'rejected' | 'busy' }
  | { kind: 'caller-hangup' }
  | { kind: 'error' }
  | { kind: 'max-steps' };

/** What to do after running a document's verbs. */
type Step = LegEnd | { kind: 'fetch'; fetch: Fetch } | { kind: 'run'; doc: TwimlDocument };

interface Leg {
  party: Party;
  callSid: string;
  /** Parameters every request on this leg carries. */
  params: () => Record<string, string>;
  /** Key presses for this leg's Gathers, consumed in order. */
  digits: Array<string | null>;
}

class CallRun {
  private readonly fetchImpl: typeof fetch;
  private readonly maxSteps: number;
  private readonly publicBase: string;
  private readonly publicBaseUrl: URL;
  private readonly targetBase: string;
  private readonly callSid: string;
  private readonly startedAt: Date;

  private readonly transcript: TranscriptEntry[] = [];
  private readonly requests: SimulatedRequest[] = [];
  private readonly errors: string[] = [];
  private readonly dialOutcomes: DialOutcome[];
  private readonly recordings: RecordingOutcome[];

  /** Simulated seconds since the call arrived. */
  private elapsed = 0;
  /** TwiML documents fetched, all legs (the maxSteps guard). */
  private twimlFetches = 0;
  /** TwiML documents that reached the caller (the hangupAfterSteps trigger). */
  private callerDocuments = 0;
  private callAnswered = false;

  constructor(
    private readonly options: SimulatorOptions,
    private readonly script: CallScript,
  ) {
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.maxSteps = options.maxSteps ?? 100;
    this.publicBase = stripTrailingSlash(options.publicBaseUrl);
    this.publicBaseUrl = new URL(`${this.publicBase}/`);
    this.targetBase = stripTrailingSlash(options.targetBaseUrl);
    this.callSid = script.callSid ?? newSid('CA');
    this.startedAt = (options.now ?? (() => new Date()))();
    this.dialOutcomes = [...(script.dialOutcomes ?? [])];
    this.recordings = [...(script.recordings ?? [])];
  }

  async run(): Promise<CallResult> {
    const caller: Leg = {
      party: 'caller',
      callSid: this.callSid,
      params: () => this.callerParams(this.callAnswered ? 'in-progress' : 'ringing'),
      digits: [...(this.script.digits ?? [])],
    };
    let end: LegEnd;
    const incoming = this.endpointForPath(this.script.incomingPath ?? DEFAULT_INCOMING_PATH);
    if ('error' in incoming) {
      this.errors.push(incoming.error);
      end = { kind: 'error' };
    } else {
      end = await this.runLeg(caller, {
        endpoint: incoming,
        method: 'POST',
        params: { ...caller.params(), ...this.script.extraParams },
      });
    }

    // A rejected call is never answered: it ends busy or no-answer, after 0 seconds.
    const rejected = end.kind === 'rejected';
    const finalCallStatus = end.kind !== 'rejected' ? 'completed' : end.reason === 'busy' ? 'busy' : 'no-answer';
    const durationSeconds = rejected ? 0 : Math.round(this.elapsed);
    await this.postFinalStatus(finalCallStatus, durationSeconds);

    return {
      callSid: this.callSid,
      transcript: this.transcript,
      requests: this.requests,
      errors: this.errors,
      ended: endedAs(end),
      finalCallStatus,
      durationSeconds,
    };
  }

  // -------------------------------------------------------------------------
  // Walking TwiML

  private async runLeg(leg: Leg, first: Fetch): Promise<LegEnd> {
    let step: Step = { kind: 'fetch', fetch: first };
    for (;;) {
      let doc: TwimlDocument;
      if (step.kind === 'fetch') {
        const fetched = await this.fetchTwiml(leg, step.fetch);
        if (fetched === 'error' || fetched === 'max-steps') return { kind: fetched };
        doc = fetched;
      } else if (step.kind === 'run') {
        doc = step.doc;
      } else {
        return step;
      }
      if (leg.party === 'caller') {
        this.callerDocuments += 1;
      }
      step = await this.runDocument(leg, doc);
    }
  }

  private async runDocument(leg: Leg, doc: TwimlDocument): Promise<Step> {
    const firstDocumentOfCall = leg.party === 'caller' && !this.callAnswered;
    for (const [index, verb] of doc.verbs.entries()) {
      if (leg.party === 'caller' && verb.verb !== 'Reject') this.callAnswered = true;
      switch (verb.verb) {
        case 'Say':
        case 'Play':
        case 'Pause':
          this.hear(leg.party, verb);
          break;
        case 'Gather': {
          const step = await this.gather(leg, doc, verb);
          if (step !== undefined) return step;
          break;
        }
        case 'Redirect': {
          if (this.callerHangsUp(leg)) return { kind: 'caller-hangup' };
          const endpoint = this.resolve(verb.url, doc.endpoint, 'Redirect');
          if ('error' in endpoint) return { kind: 'error' };
          this.transcript.push({ kind: 'redirect', url: endpoint.path });
          return { kind: 'fetch', fetch: { endpoint, method: verb.method, params: leg.params() } };
        }
        case 'Record': {
          const step = await this.record(leg, doc, verb);
          if (step !== undefined) return step;
          break;
        }
        case 'Dial': {
          const step = await this.dial(leg, doc, verb);
          if (step !== undefined) return step;
          break;
        }
        case 'Hangup':
          this.transcript.push(leg.party === 'caller' ? { kind: 'hangup' } : { kind: 'hangup', party: leg.party });
          return { kind: 'hangup' };
        case 'Reject':
          // Only a <Reject> that comes first in the first document leaves the call unanswered;
          // anywhere else the call is already answered, and it ends like <Hangup>.
          this.transcript.push(leg.party === 'caller' ? { kind: 'hangup' } : { kind: 'hangup', party: leg.party });
          if (firstDocumentOfCall && index === 0) return { kind: 'rejected', reason: verb.reason };
          return { kind: 'hangup' };
        default:
          return verb satisfies never;
      }
    }
    // End of the document: Twilio ends the call (on a whisper leg, it bridges the parties).
    return { kind: 'completed' };
  }

  private hear(party: Party, verb: PromptVerb): void {
    switch (verb.verb) {
      case 'Say': {
        for (let i = 0; i < Math.max(1, verb.loop); i += 1) {
          const entry: TranscriptEntry = { kind: 'say', text: verb.text, party };
          if (verb.language !== undefined) entry.language = verb.language;
          this.transcript.push(entry);
          this.elapsed += speakingSeconds(verb.text);
        }
        return;
      }
      case 'Play': {
        const url = verb.url !== '' ? verb.url : `dtmf:${verb.digits ?? ''}`;
        for (let i = 0; i < Math.max(1, verb.loop); i += 1) {
          this.transcript.push({ kind: 'play', url, party });
          this.elapsed += 3;
        }
        return;
      }
      case 'Pause':
        this.transcript.push({ kind: 'pause', seconds: verb.length, party });
        this.elapsed += verb.length;
        return;
      default:
        verb satisfies never;
    }
  }

  /** Returns the next step, or undefined to continue with the verb after the Gather. */
  private async gather(leg: Leg, doc: TwimlDocument, verb: GatherVerb): Promise<Step | undefined> {
    for (const child of verb.children) this.hear(leg.party, child);
    if (!verb.input.includes('dtmf')) {
      this.errors.push(`<Gather input="${verb.input.join(' ')}"> at ${doc.endpoint.path}: the simulator only presses keys (dtmf)`);
      return { kind: 'error' };
    }
    if (this.callerHangsUp(leg)) return { kind: 'caller-hangup' };

    const pressed = leg.digits.length > 0 ? leg.digits.shift() : null;
    let digits = '';
    let finishedOnKey = '';
    if (pressed === null || pressed === undefined) {
      this.transcript.push({ kind: 'silence', party: leg.party });
      this.elapsed += verb.timeout;
    } else {
      this.transcript.push({ kind: 'press', digits: pressed, party: leg.party });
      // Twilio stops collecting at the finish key or once numDigits keys are in; later keys are lost.
      for (const key of pressed) {
        if (verb.finishOnKey !== '' && verb.finishOnKey.includes(key)) {
          finishedOnKey = key;
          break;
        }
        digits += key;
        if (verb.numDigits !== undefined && digits.length >= verb.numDigits) break;
      }
      this.elapsed += 1 + pressed.length * 0.5;
      if (digits === '' && finishedOnKey === '' && verb.numDigits === undefined) this.elapsed += verb.timeout;
    }

    if (digits === '' && !verb.actionOnEmptyResult) return undefined; // fall through to the next verb
    const endpoint = verb.action !== undefined ? this.resolve(verb.action, doc.endpoint, 'Gather action') : doc.endpoint;
    if ('error' in endpoint) return { kind: 'error' };
    return {
      kind: 'fetch',
      fetch: { endpoint, method: verb.method, params: { ...leg.params(), Digits: digits, FinishedOnKey: finishedOnKey } },
    };
  }

  /** Returns the next step, or undefined to continue with the verb after the Record. */
  private async record(leg: Leg, doc: TwimlDocument, verb: RecordVerb): Promise<Step | undefined> {
    if (this.callerHangsUp(leg)) return { kind: 'caller-hangup' };
    const outcome = this.recordings.shift() ?? { status: 'absent' };
    const status = outcome.status ?? 'completed';
    const seconds = status === 'absent' ? 0 : Math.min(outcome.durationSeconds ?? DEFAULT_RECORDING_SECONDS, verb.maxLength);
    this.transcript.push({ kind: 'record', seconds, status });
    const recordingStartedAt = this.timestamp();
    this.elapsed += seconds + (outcome.digits === undefined ? 0 : 1) + (status === 'absent' ? verb.timeout : 0);

    const recordingSid = newSid('RE');
    const apiBase = (this.options.twilioApiBaseUrl ?? 'https://api.twilio.com').replace(/\/+$/, '');
    const recordingUrl = `${apiBase}/${API_VERSION}/Accounts/${this.options.accountSid}/Recordings/${recordingSid}`;
    await this.options.onRecording?.({ recordingSid, callSid: leg.params()['CallSid'] ?? '', seconds, status });
    const callback = verb.recordingStatusCallback !== undefined
      ? this.resolve(verb.recordingStatusCallback, doc.endpoint, 'Record recordingStatusCallback')
      : undefined;
    if (callback !== undefined && 'error' in callback) return { kind: 'error' };
    const postRecordingStatus = async (recordingStatus: string, duration: number): Promise<void> => {
      if (callback === undefined) return;
      await this.postCallback(leg.party, callback, verb.recordingStatusCallbackMethod, {
        AccountSid: this.options.accountSid,
        CallSid: leg.callSid,
        RecordingSid: recordingSid,
        RecordingUrl: recordingUrl,
        RecordingStatus: recordingStatus,
        RecordingDuration: String(duration),
        RecordingChannels: '1',
        RecordingStartTime: recordingStartedAt,
        RecordingSource: 'RecordVerb',
        ErrorCode: '0',
      });
    };

    if (verb.recordingStatusCallbackEvent.includes('in-progress')) await postRecordingStatus('in-progress', 0);
    if (status === 'absent') {
      // Twilio does not request the action for an empty recording; the next verb runs.
      if (verb.recordingStatusCallbackEvent.includes('absent')) await postRecordingStatus('absent', 0);
      return undefined;
    }

    const callerHungUp = outcome.digits === undefined;
    const endpoint = verb.action !== undefined ? this.resolve(verb.action, doc.endpoint, 'Record action') : doc.endpoint;
    if ('error' in endpoint) return { kind: 'error' };
    const params = {
      ...leg.params(),
      ...(callerHungUp ? { CallStatus: 'completed' } : {}),
      RecordingSid: recordingSid,
      RecordingUrl: recordingUrl,
      RecordingDuration: String(seconds),
      Digits: callerHungUp ? 'hangup' : (outcome.digits ?? ''),
    };
    // The action comes first, then the recording status callback.
    const next = await this.fetchTwiml(leg, { endpoint, method: verb.method, params });
    // 'failed' is always reported; 'completed' only when subscribed (the default).
    if (status === 'failed' || verb.recordingStatusCallbackEvent.includes('completed')) {
      await postRecordingStatus(status, seconds);
    }
    if (next === 'error' || next === 'max-steps') return { kind: next };
    if (callerHungUp) {
      // The caller is gone: Twilio requests the action but cannot run what it returns.
      this.transcript.push({ kind: 'hangup', callerHungUp: true });
      return { kind: 'caller-hangup' };
    }
    return { kind: 'run', doc: next };
  }

  /** Returns the next step, or undefined to continue with the verb after the Dial. */
  private async dial(leg: Leg, doc: TwimlDocument, verb: DialVerb): Promise<Step | undefined> {
    if (leg.party !== 'caller') {
      this.errors.push(`<Dial> in the TwiML of a dialled party's leg (${doc.endpoint.path}): Twilio does not allow it`);
      return { kind: 'error' };
    }
    if (this.callerHangsUp(leg)) return { kind: 'caller-hangup' };
    const outcome = this.dialOutcomes.shift() ?? { status: 'no-answer' };
    const answeredIndex = outcome.answeredIndex ?? 0;
    const answered = outcome.status === 'completed' || outcome.status === 'answered';
    const legs = verb.nouns.map((noun) => ({ noun, callSid: newSid('CA'), sequence: 0 }));
    const answering = answered ? legs[answeredIndex] : undefined;
    if (answered && answering === undefined) {
      this.errors.push(`dialOutcome answeredIndex ${answeredIndex} but <Dial> has ${legs.length} noun(s)`);
      return { kind: 'error' };
    }
    const entry = {
      kind: 'dial' as const,
      numbers: verb.nouns.map(nounAddress),
      outcome: outcome.status,
      bridged: answered,
    };
    this.transcript.push(entry);

    const childParams = (noun: DialNoun, callSid: string, callStatus: string): Record<string, string> => {
      const from = verb.callerId ?? this.script.from;
      const to = nounAddress(noun);
      const params: Record<string, string> = {
        AccountSid: this.options.accountSid,
        ApiVersion: API_VERSION,
        CallSid: callSid,
        ParentCallSid: this.callSid,
        CallStatus: callStatus,
        Direction: 'outbound-dial',
        From: from,
        Caller: from,
        To: to,
        Called: to,
      };
      if (noun.noun === 'Number' && noun.machineDetection !== undefined && callStatus !== 'initiated' && callStatus !== 'ringing') {
        params['AnsweredBy'] = outcome.answeredBy ?? 'human';
      }
      return params;
    };
    const childCallback = async (child: (typeof legs)[number], event: CallProgressEvent, callStatus: string, duration?: number): Promise<void> => {
      const { noun } = child;
      if (noun.statusCallback === undefined || !noun.statusCallbackEvent.includes(event)) return;
      const endpoint = this.resolve(noun.statusCallback, doc.endpoint, `<${noun.noun} statusCallback>`);
      if ('error' in endpoint) return;
      const params = {
        ...childParams(noun, child.callSid, callStatus),
        Timestamp: this.timestamp(),
        SequenceNumber: String(child.sequence),
        CallbackSource: 'call-progress-events',
        ...(duration !== undefined ? { CallDuration: String(duration) } : {}),
      };
      child.sequence += 1;
      await this.postCallback('provider', endpoint, noun.statusCallbackMethod, params);
    };

    // Every noun rings at once; busy and failed lines never ring.
    for (const child of legs) {
      await childCallback(child, 'initiated', 'initiated');
      if (outcome.status !== 'busy' && outcome.status !== 'failed') await childCallback(child, 'ringing', 'ringing');
    }
    this.elapsed += answered ? RING_SECONDS : outcome.status === 'no-answer' ? verb.timeout : 2;

    let reported: DialStatus = outcome.status;
    let bridged = answered;
    let childSeconds = 0;
    if (answering !== undefined) {
      await childCallback(answering, 'answered', 'in-progress');
      const whisperStart = this.elapsed;
      if (answering.noun.url !== undefined) {
        const whisperUrl = this.resolve(answering.noun.url, doc.endpoint, `<${answering.noun.noun} url>`);
        if ('error' in whisperUrl) return { kind: 'error' };
        const whisperDigits = outcome.whisperDigits;
        const provider: Leg = {
          party: 'provider',
          callSid: answering.callSid,
          params: () => childParams(answering.noun, answering.callSid, 'in-progress'),
          digits: Array.isArray(whisperDigits) ? [...whisperDigits] : whisperDigits === undefined ? [] : [whisperDigits],
        };
        const whisperEnd = await this.runLeg(provider, {
          endpoint: whisperUrl,
          method: answering.noun.method,
          params: provider.params(),
        });
        switch (whisperEnd.kind) {
          case 'completed':
            break; // the whisper ran to its end: Twilio bridges the two parties
          case 'hangup':
          case 'rejected':
            // The whisper hung up, so the parties are never bridged. Twilio's docs (searched:
            // <Number url> "runs on the called party's end, after they answer, but before the
            // parties are connected"; DialCallStatus 'no-answer' = "not answered before the
            // timeout") put no-answer out of reach: the child leg WAS answered, then completed.
            // Call-screening code in the wild (e.g. handlers that treat "an unaccepted leg …
            // even if DialCallStatus is completed" as missed, and ones keyed on DialBridged)
            // confirms the Dial action then reports DialCallStatus=completed, DialBridged=false.
            // So 'completed' alone does NOT mean the provider took the call: the service must
            // record acceptance itself (in the whisper's Gather action).
            reported = 'completed';
            bridged = false;
            break;
          case 'caller-hangup':
          case 'error':
          case 'max-steps':
            return whisperEnd;
          default:
            return whisperEnd satisfies never;
        }
      }
      childSeconds = Math.round(this.elapsed - whisperStart) + (bridged ? (outcome.duration ?? DEFAULT_TALK_SECONDS) : 0);
      if (bridged) this.elapsed += outcome.duration ?? DEFAULT_TALK_SECONDS;
    }
    entry.outcome = reported;
    entry.bridged = bridged;

    // Child legs end (and report) before the parent's <Dial> completes. Lines that lost the
    // race to another answer are canceled.
    for (const child of legs) {
      const status = child === answering ? 'completed' : answered ? 'canceled' : outcome.status;
      await childCallback(child, 'completed', status, child === answering ? childSeconds : 0);
    }

    if (verb.action === undefined) return undefined; // Twilio continues with the next verb
    const endpoint = this.resolve(verb.action, doc.endpoint, 'Dial action');
    if ('error' in endpoint) return { kind: 'error' };
    const dialSid = (answering ?? legs[0])?.callSid ?? newSid('CA');
    const params: Record<string, string> = {
      ...leg.params(),
      DialCallStatus: reported,
      DialCallSid: dialSid,
      DialCallDuration: String(childSeconds),
      // Seen in Twilio Dial-action handlers in the wild; not in the docs searched here.
      DialBridged: String(bridged),
    };
    if (bridged && verb.record !== undefined && verb.record !== 'do-not-record') {
      const recordingSid = newSid('RE');
      params['RecordingSid'] = recordingSid;
      params['RecordingUrl'] = `https://api.twilio.com/${API_VERSION}/Accounts/${this.options.accountSid}/Recordings/${recordingSid}`;
      params['RecordingDuration'] = String(outcome.duration ?? DEFAULT_TALK_SECONDS);
    }
    return { kind: 'fetch', fetch: { endpoint, method: verb.method, params } };
  }

  /** The script's caller hangs up at an interactive verb once enough documents reached them. */
  private callerHangsUp(leg: Leg): boolean {
    const limit = this.script.hangupAfterSteps;
    if (leg.party !== 'caller' || limit === undefined || this.callerDocuments < limit) return false;
    this.transcript.push({ kind: 'hangup', callerHungUp: true });
    return true;
  }

  // -------------------------------------------------------------------------
  // HTTP

  private async fetchTwiml(leg: Leg, request: Fetch): Promise<TwimlDocument | 'error' | 'max-steps'> {
    if (this.twimlFetches >= this.maxSteps) {
      this.errors.push(`stopped after ${this.maxSteps} TwiML documents (maxSteps): the flow may loop`);
      return 'max-steps';
    }
    this.twimlFetches += 1;
    const response = await this.send('twiml', leg.party, request.endpoint, request.method, request.params);
    if (response === undefined) return 'error';
    const where = `${request.method} ${withoutQuery(request.endpoint.path)}`;
    if (response.status !== 200) {
      this.errors.push(`${where} → HTTP ${response.status} (expected 200 with TwiML)`);
      return 'error';
    }
    if (!response.contentType.toLowerCase().includes('xml')) {
      this.errors.push(`${where} → Content-Type "${response.contentType}" is not XML (TwiML expected)`);
      return 'error';
    }
    try {
      return { verbs: parseTwiml(response.body), endpoint: request.endpoint };
    } catch (error) {
      this.errors.push(`${where} → ${error instanceof Error ? error.message : String(error)}`);
      return 'error';
    }
  }

  private async postCallback(party: Party, endpoint: Endpoint, method: HttpMethod, params: Record<string, string>): Promise<void> {
    // Status callbacks are asynchronous at Twilio: a failure is recorded but does not end the call.
    const response = await this.send('callback', party, endpoint, method, params);
    if (response !== undefined && (response.status < 200 || response.status > 299)) {
      this.errors.push(`${method} ${withoutQuery(endpoint.path)} (status callback) → HTTP ${response.status}`);
    }
  }

  private async postFinalStatus(callStatus: string, durationSeconds: number): Promise<void> {
    const endpoint = this.endpointForPath(this.script.statusPath ?? DEFAULT_STATUS_PATH);
    if ('error' in endpoint) {
      this.errors.push(endpoint.error);
      return;
    }
    await this.postCallback('caller', endpoint, 'POST', {
      ...this.callerParams(callStatus),
      CallDuration: String(durationSeconds),
      Timestamp: this.timestamp(),
      SequenceNumber: '0',
      CallbackSource: 'call-progress-events',
    });
  }

  private async send(
    kind: SimulatedRequest['kind'],
    party: Party,
    endpoint: Endpoint,
    method: HttpMethod,
    params: Record<string, string>,
  ): Promise<{ status: number; contentType: string; body: string } | undefined> {
    let { publicUrl, targetUrl, path } = endpoint;
    let body: string | undefined;
    let signedParams: Record<string, string> = params;
    const headers: Record<string, string> = {
      'User-Agent': 'TwilioProxy/1.1',
      Accept: '*/*',
      'I-Twilio-Idempotency-Token': randomBytes(16).toString('hex'),
    };
    if (method === 'GET') {
      // GET requests carry the parameters in the query string, and the signature covers the URL only.
      const query = new URLSearchParams(params).toString();
      if (query !== '') {
        const separator = path.includes('?') ? '&' : '?';
        publicUrl += separator + query;
        targetUrl += separator + query;
        path += separator + query;
      }
      signedParams = {};
    } else {
      body = new URLSearchParams(params).toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    headers['X-Twilio-Signature'] = twilio.getExpectedTwilioSignature(this.options.authToken, publicUrl, signedParams);

    const record: SimulatedRequest = { method, path, params, status: 0, body: '', kind, party };
    this.requests.push(record);
    try {
      const init: RequestInit = { method, headers, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
      if (body !== undefined) init.body = body;
      const response = await this.fetchImpl(targetUrl, init);
      record.status = response.status;
      record.body = await response.text();
      return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: record.body };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
      this.errors.push(`${method} ${withoutQuery(path)} → request failed: ${error instanceof Error ? error.message : String(error)}${cause}`);
      return undefined;
    }
  }

  // -------------------------------------------------------------------------
  // URLs

  /** A path from the script (may carry a query string), under the public base. */
  private endpointForPath(path: string): Endpoint | { error: string } {
    if (!path.startsWith('/')) return { error: `script path "${path}" must start with "/"` };
    return this.toEndpoint(`${this.publicBase}${path}`, 'script path');
  }

  /**
   * Resolve a URL from TwiML the way Twilio does: relative to the public URL of the document
   * it came from. Anything outside the public base is refused (recorded as an error).
   */
  private resolve(reference: string, from: Endpoint, what: string): Endpoint | { error: string } {
    let absolute: string;
    try {
      absolute = new URL(reference, from.publicUrl).href;
    } catch {
      const error = `${what} "${reference}" is not a valid URL`;
      this.errors.push(error);
      return { error };
    }
    const endpoint = this.toEndpoint(absolute, what);
    if ('error' in endpoint) this.errors.push(endpoint.error);
    return endpoint;
  }

  private toEndpoint(absolute: string, what: string): Endpoint | { error: string } {
    let url: URL;
    try {
      url = new URL(absolute);
    } catch {
      return { error: `${what} "${absolute}" is not a valid URL` };
    }
    // Fragments (Twilio's #ct=/#rt= connection overrides) are never sent, so never signed here.
    url.hash = '';
    const base = this.publicBaseUrl;
    if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) {
      return {
        error: `${what} ${url.origin}${url.pathname} is outside the public base URL ${base.origin}${base.pathname}: refused (the simulator never calls out)`,
      };
    }
    const path = `/${url.pathname.slice(base.pathname.length)}${url.search}`;
    return { publicUrl: `${this.publicBase}${path}`, targetUrl: `${this.targetBase}${path}`, path };
  }

  // -------------------------------------------------------------------------
  // Parameters

  private callerParams(callStatus: string): Record<string, string> {
    const { from, to } = this.script;
    const fromGeo = geography(from);
    const toGeo = geography(to);
    return {
      AccountSid: this.options.accountSid,
      ApiVersion: API_VERSION,
      CallSid: this.callSid,
      CallStatus: callStatus,
      Direction: 'inbound',
      From: from,
      To: to,
      Caller: from,
      Called: to,
      FromCountry: fromGeo.country,
      FromState: fromGeo.state,
      FromCity: fromGeo.city,
      FromZip: fromGeo.zip,
      CallerCountry: fromGeo.country,
      CallerState: fromGeo.state,
      CallerCity: fromGeo.city,
      CallerZip: fromGeo.zip,
      ToCountry: toGeo.country,
      ToState: toGeo.state,
      ToCity: toGeo.city,
      ToZip: toGeo.zip,
      CalledCountry: toGeo.country,
      CalledState: toGeo.state,
      CalledCity: toGeo.city,
      CalledZip: toGeo.zip,
    };
  }

  /** Twilio's callback Timestamp format (RFC 2822), at the current simulated time. */
  private timestamp(): string {
    const at = new Date(this.startedAt.getTime() + Math.round(this.elapsed * 1000));
    return at.toUTCString().replace('GMT', '+0000');
  }
}

// ---------------------------------------------------------------------------
// Helpers

function endedAs(end: LegEnd): CallEnd {
  switch (end.kind) {
    case 'completed':
      return 'completed';
    case 'hangup':
    case 'rejected':
      return 'hangup';
    case 'caller-hangup':
      return 'caller-hangup';
    case 'error':
      return 'error';
    case 'max-steps':
      return 'max-steps';
    default:
      return end satisfies never;
  }
}

function nounAddress(noun: DialNoun): string {
  switch (noun.noun) {
    case 'Number':
      return noun.number;
    case 'Client':
      return `client:${noun.identity}`;
    case 'Sip':
      return noun.uri;
    default:
      return noun satisfies never;
  }
}

/** A Twilio-style SID: two-letter prefix and 32 lowercase hex digits. */
export function newSid(prefix: 'CA' | 'RE'): string {
  return prefix + randomBytes(16).toString('hex');
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function withoutQuery(path: string): string {
  const at = path.indexOf('?');
  return at === -1 ? path : path.slice(0, at);
}

/** Rough text-to-speech time: 2.5 words a second. */
function speakingSeconds(text: string): number {
  const words = text.split(/\s+/).filter(Boolean).length;
  return Math.max(1, words / 2.5);
}

interface Geography {
  country: string;
  state: string;
  city: string;
  zip: string;
}

/** Plausible geographic hints for a few US area codes; Twilio sends '' where it knows nothing. */
const AREA_CODES: Record<string, Omit<Geography, 'country'>> = {
  '202': { state: 'DC', city: 'WASHINGTON', zip: '20001' },
  '212': { state: 'NY', city: 'NEW YORK', zip: '10001' },
  '312': { state: 'IL', city: 'CHICAGO', zip: '60601' },
  '415': { state: 'CA', city: 'SAN FRANCISCO', zip: '94105' },
};

function geography(number: string): Geography {
  const match = /^\+1(\d{3})\d{7}$/.exec(number);
  const area = match?.[1] !== undefined ? AREA_CODES[match[1]] : undefined;
  return { country: 'US', state: area?.state ?? '', city: area?.city ?? '', zip: area?.zip ?? '' };
}
