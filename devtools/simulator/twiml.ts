/**
 * A strict TwiML (voice) parser for the call simulator.
 *
 * It turns a `<Response>` document into a closed union of the verbs our service may emit,
 * with Twilio's documented defaults filled in. Anything else is refused with an error that
 * names the verb, so a test fails on TwiML the simulator (and therefore our flows) does not
 * expect, instead of silently skipping it.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export type HttpMethod = 'GET' | 'POST';

export interface SayVerb {
  verb: 'Say';
  text: string;
  voice?: string;
  language?: string;
  /** Times the text is spoken; Twilio's `loop="0"` (repeat until hang-up) is kept as 0. */
  loop: number;
}

export interface PlayVerb {
  verb: 'Play';
  url: string;
  loop: number;
  /** DTMF tones played instead of (or with) audio. */
  digits?: string;
}

export interface PauseVerb {
  verb: 'Pause';
  /** Seconds; Twilio's default is 1. */
  length: number;
}

export type PromptVerb = SayVerb | PlayVerb | PauseVerb;

export type GatherInput = 'dtmf' | 'speech';

export interface GatherVerb {
  verb: 'Gather';
  /** Unset means the current document's URL (Twilio's default). */
  action?: string;
  method: HttpMethod;
  numDigits?: number;
  /** Seconds of silence before Twilio gives up; default 5. */
  timeout: number;
  /** Default '#'; '' disables the finish key. */
  finishOnKey: string;
  input: GatherInput[];
  actionOnEmptyResult: boolean;
  children: PromptVerb[];
}

export interface RedirectVerb {
  verb: 'Redirect';
  url: string;
  method: HttpMethod;
}

export type RecordingStatusEvent = 'in-progress' | 'completed' | 'absent';

export interface RecordVerb {
  verb: 'Record';
  /** Unset means the current document's URL (Twilio's default). */
  action?: string;
  method: HttpMethod;
  /** Seconds; default 3600. */
  maxLength: number;
  playBeep: boolean;
  /** Default '1234567890*#'. */
  finishOnKey: string;
  /** Seconds of silence that end the recording; default 5. */
  timeout: number;
  /** 'trim-silence' (default) or 'do-not-trim'. */
  trim: string;
  recordingStatusCallback?: string;
  recordingStatusCallbackMethod: HttpMethod;
  /** Default ['completed']. */
  recordingStatusCallbackEvent: RecordingStatusEvent[];
  transcribe: boolean;
  transcribeCallback?: string;
}

export type CallProgressEvent = 'initiated' | 'ringing' | 'answered' | 'completed';

interface DialNounBase {
  /** TwiML run on the called party once they answer, before the bridge (the whisper). */
  url?: string;
  method: HttpMethod;
  statusCallback?: string;
  /** Default ['completed']. */
  statusCallbackEvent: CallProgressEvent[];
  statusCallbackMethod: HttpMethod;
}

export interface NumberNoun extends DialNounBase {
  noun: 'Number';
  number: string;
  sendDigits?: string;
  machineDetection?: string;
}

export interface ClientNoun extends DialNounBase {
  noun: 'Client';
  identity: string;
}

export interface SipNoun extends DialNounBase {
  noun: 'Sip';
  uri: string;
}

export type DialNoun = NumberNoun | ClientNoun | SipNoun;

export interface DialVerb {
  verb: 'Dial';
  action?: string;
  method: HttpMethod;
  /** Seconds to ring; default 30. */
  timeout: number;
  callerId?: string;
  record?: string;
  hangupOnStar: boolean;
  timeLimit?: number;
  answerOnBridge: boolean;
  /** A plain number written as the text of `<Dial>` becomes one `Number` noun. */
  nouns: DialNoun[];
}

export interface HangupVerb {
  verb: 'Hangup';
}

export interface RejectVerb {
  verb: 'Reject';
  /** 'rejected' (default) or 'busy'. */
  reason: 'rejected' | 'busy';
}

/** Every verb the simulator can run. Handle it with an exhaustive `switch`. */
export type TwimlVerb =
  | SayVerb
  | PlayVerb
  | PauseVerb
  | GatherVerb
  | RedirectVerb
  | RecordVerb
  | DialVerb
  | HangupVerb
  | RejectVerb;

/** Thrown for anything that is not a TwiML voice document the simulator supports. */
export class TwimlError extends Error {
  override name = 'TwimlError';
}

/** Real TwiML verbs the simulator deliberately does not run (named in the error). */
const UNSUPPORTED_VERBS = new Set([
  'Sms',
  'Message',
  'Enqueue',
  'Leave',
  'Queue',
  'Conference',
  'Connect',
  'Start',
  'Stop',
  'Pay',
  'Prompt',
  'Refer',
  'Echo',
  'Stream',
  'Siprec',
  'Transcription',
  'VirtualAgent',
  'ConversationRelay',
]);

type XmlNode = Record<string, unknown>;

const ATTRS = ':@';
const TEXT = '#text';
const COMMENT = '#comment';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: COMMENT,
});

/**
 * Parse a TwiML voice document into verbs, in document order.
 * Throws `TwimlError` when the document is not well-formed XML, has no `<Response>` root,
 * or contains a verb, noun or attribute value the simulator does not support.
 */
export function parseTwiml(xml: string): TwimlVerb[] {
  if (xml.trim() === '') throw new TwimlError('Not TwiML: empty document');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new TwimlError(`Not TwiML: malformed XML (${valid.err.msg} at line ${valid.err.line})`);
  }
  const top = (parser.parse(xml) as XmlNode[]).filter((node) => !(COMMENT in node));
  const first = top[0];
  if (top.length !== 1 || first === undefined || tagName(first) !== 'Response') {
    const names = top.map((node) => tagName(node) ?? 'text').join(', ');
    throw new TwimlError(`Not TwiML: expected a single <Response> root element, found: ${names || 'nothing'}`);
  }
  return elementChildren(first, 'Response').map(parseVerb);
}

function parseVerb(node: XmlNode): TwimlVerb {
  const name = tagName(node);
  const attrs = attributesOf(node);
  switch (name) {
    case 'Say':
      return parseSay(node, attrs);
    case 'Play':
      return parsePlay(node, attrs);
    case 'Pause':
      return parsePause(attrs);
    case 'Gather':
      return parseGather(node, attrs);
    case 'Redirect': {
      const url = textOf(node);
      if (url === '') throw new TwimlError('<Redirect> has no URL');
      return { verb: 'Redirect', url, method: method(attrs, 'method', 'Redirect') };
    }
    case 'Record':
      return parseRecord(attrs);
    case 'Dial':
      return parseDial(node, attrs);
    case 'Hangup':
      return { verb: 'Hangup' };
    case 'Reject': {
      const reason = attrs['reason'] ?? 'rejected';
      if (reason !== 'rejected' && reason !== 'busy') {
        throw new TwimlError(`<Reject reason="${reason}"> is not 'rejected' or 'busy'`);
      }
      return { verb: 'Reject', reason };
    }
    case undefined:
      throw new TwimlError(`Unexpected text directly inside <Response>: "${clip(textOf(node))}"`);
    default:
      if (UNSUPPORTED_VERBS.has(name)) {
        throw new TwimlError(`Unsupported TwiML verb <${name}>: the call simulator does not run it`);
      }
      throw new TwimlError(`Unknown TwiML verb <${name}>`);
  }
}

function parseSay(node: XmlNode, attrs: Record<string, string>): SayVerb {
  const text = textOf(node);
  const say: SayVerb = { verb: 'Say', text, loop: int(attrs, 'loop', 'Say', 1, 0) };
  if (attrs['voice'] !== undefined) say.voice = attrs['voice'];
  if (attrs['language'] !== undefined) say.language = attrs['language'];
  return say;
}

function parsePlay(node: XmlNode, attrs: Record<string, string>): PlayVerb {
  const url = textOf(node);
  const play: PlayVerb = { verb: 'Play', url, loop: int(attrs, 'loop', 'Play', 1, 0) };
  if (attrs['digits'] !== undefined) play.digits = attrs['digits'];
  if (url === '' && play.digits === undefined) throw new TwimlError('<Play> has neither a URL nor digits');
  return play;
}

function parsePause(attrs: Record<string, string>): PauseVerb {
  return { verb: 'Pause', length: int(attrs, 'length', 'Pause', 1, 0) };
}

function parseGather(node: XmlNode, attrs: Record<string, string>): GatherVerb {
  const input = (attrs['input'] ?? 'dtmf').split(/\s+/).filter(Boolean);
  for (const kind of input) {
    if (kind !== 'dtmf' && kind !== 'speech') throw new TwimlError(`<Gather input="${kind}"> is not dtmf or speech`);
  }
  const children = childNodes(node).map((child): PromptVerb => {
    const name = tagName(child);
    const childAttrs = attributesOf(child);
    switch (name) {
      case 'Say':
        return parseSay(child, childAttrs);
      case 'Play':
        return parsePlay(child, childAttrs);
      case 'Pause':
        return parsePause(childAttrs);
      default:
        throw new TwimlError(`<${name ?? 'text'}> cannot be nested in <Gather> (only Say, Play, Pause)`);
    }
  });
  const gather: GatherVerb = {
    verb: 'Gather',
    method: method(attrs, 'method', 'Gather'),
    timeout: int(attrs, 'timeout', 'Gather', 5, 0),
    finishOnKey: attrs['finishOnKey'] ?? '#',
    input: input as GatherInput[],
    actionOnEmptyResult: bool(attrs, 'actionOnEmptyResult', 'Gather', false),
    children,
  };
  if (attrs['action'] !== undefined) gather.action = attrs['action'];
  if (attrs['numDigits'] !== undefined) gather.numDigits = int(attrs, 'numDigits', 'Gather', 1, 1);
  return gather;
}

function parseRecord(attrs: Record<string, string>): RecordVerb {
  const events = list(attrs['recordingStatusCallbackEvent'] ?? 'completed');
  for (const event of events) {
    if (event !== 'in-progress' && event !== 'completed' && event !== 'absent') {
      throw new TwimlError(`<Record recordingStatusCallbackEvent> has unknown event "${event}"`);
    }
  }
  const record: RecordVerb = {
    verb: 'Record',
    method: method(attrs, 'method', 'Record'),
    maxLength: int(attrs, 'maxLength', 'Record', 3600, 1),
    playBeep: bool(attrs, 'playBeep', 'Record', true),
    finishOnKey: attrs['finishOnKey'] ?? '1234567890*#',
    timeout: int(attrs, 'timeout', 'Record', 5, 0),
    trim: attrs['trim'] ?? 'trim-silence',
    recordingStatusCallbackMethod: method(attrs, 'recordingStatusCallbackMethod', 'Record'),
    recordingStatusCallbackEvent: events as RecordingStatusEvent[],
    transcribe: bool(attrs, 'transcribe', 'Record', false),
  };
  if (attrs['action'] !== undefined) record.action = attrs['action'];
  if (attrs['recordingStatusCallback'] !== undefined) record.recordingStatusCallback = attrs['recordingStatusCallback'];
  if (attrs['transcribeCallback'] !== undefined) record.transcribeCallback = attrs['transcribeCallback'];
  return record;
}

function parseDial(node: XmlNode, attrs: Record<string, string>): DialVerb {
  const nodes = childNodes(node);
  const nouns: DialNoun[] = [];
  const elements = nodes.filter((child) => tagName(child) !== undefined);
  if (elements.length === 0) {
    const number = textOf(node);
    if (number === '') throw new TwimlError('<Dial> has nothing to dial');
    nouns.push({ noun: 'Number', number, ...nounBase({}, 'Number') });
  } else {
    if (elements.length !== nodes.length) throw new TwimlError('<Dial> mixes a plain number with nouns');
    for (const child of elements) nouns.push(parseDialNoun(child));
  }
  if (nouns.length > 10) throw new TwimlError(`<Dial> has ${nouns.length} nouns; Twilio allows at most 10`);
  const dial: DialVerb = {
    verb: 'Dial',
    method: method(attrs, 'method', 'Dial'),
    timeout: int(attrs, 'timeout', 'Dial', 30, 1),
    hangupOnStar: bool(attrs, 'hangupOnStar', 'Dial', false),
    answerOnBridge: bool(attrs, 'answerOnBridge', 'Dial', false),
    nouns,
  };
  if (attrs['action'] !== undefined) dial.action = attrs['action'];
  if (attrs['callerId'] !== undefined) dial.callerId = attrs['callerId'];
  if (attrs['record'] !== undefined) dial.record = attrs['record'];
  if (attrs['timeLimit'] !== undefined) dial.timeLimit = int(attrs, 'timeLimit', 'Dial', 14400, 1);
  return dial;
}

function parseDialNoun(node: XmlNode): DialNoun {
  const name = tagName(node);
  const attrs = attributesOf(node);
  switch (name) {
    case 'Number': {
      const number = textOf(node);
      if (number === '') throw new TwimlError('<Number> is empty');
      const noun: NumberNoun = { noun: 'Number', number, ...nounBase(attrs, 'Number') };
      if (attrs['sendDigits'] !== undefined) noun.sendDigits = attrs['sendDigits'];
      if (attrs['machineDetection'] !== undefined) noun.machineDetection = attrs['machineDetection'];
      return noun;
    }
    case 'Client': {
      // <Client>alice</Client> or <Client><Identity>alice</Identity>…</Client>
      const identityNode = childNodes(node).find((child) => tagName(child) === 'Identity');
      const identity = identityNode !== undefined ? textOf(identityNode) : textOf(node);
      if (identity === '') throw new TwimlError('<Client> has no identity');
      return { noun: 'Client', identity, ...nounBase(attrs, 'Client') };
    }
    case 'Sip': {
      const uri = textOf(node);
      if (uri === '') throw new TwimlError('<Sip> has no URI');
      return { noun: 'Sip', uri, ...nounBase(attrs, 'Sip') };
    }
    default:
      if (name !== undefined && UNSUPPORTED_VERBS.has(name)) {
        throw new TwimlError(`Unsupported <Dial> noun <${name}>: the call simulator does not run it`);
      }
      throw new TwimlError(`Unknown <Dial> noun <${name ?? 'text'}>`);
  }
}

function nounBase(attrs: Record<string, string>, element: string): DialNounBase {
  const events = list(attrs['statusCallbackEvent'] ?? 'completed');
  for (const event of events) {
    if (event !== 'initiated' && event !== 'ringing' && event !== 'answered' && event !== 'completed') {
      throw new TwimlError(`<${element} statusCallbackEvent> has unknown event "${event}"`);
    }
  }
  const base: DialNounBase = {
    method: method(attrs, 'method', element),
    statusCallbackEvent: events as CallProgressEvent[],
    statusCallbackMethod: method(attrs, 'statusCallbackMethod', element),
  };
  if (attrs['url'] !== undefined) base.url = attrs['url'];
  if (attrs['statusCallback'] !== undefined) base.statusCallback = attrs['statusCallback'];
  return base;
}

// ---------------------------------------------------------------------------
// preserveOrder node helpers

function tagName(node: XmlNode): string | undefined {
  return Object.keys(node).find((key) => key !== ATTRS && key !== TEXT && key !== COMMENT);
}

function attributesOf(node: XmlNode): Record<string, string> {
  const raw = node[ATTRS];
  if (raw === undefined || raw === null || typeof raw !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) out[key] = String(value);
  return out;
}

/** Children of an element, comments dropped. */
function childNodes(node: XmlNode): XmlNode[] {
  const name = tagName(node);
  if (name === undefined) return [];
  return elementChildren(node, name);
}

function elementChildren(node: XmlNode, name: string): XmlNode[] {
  const value = node[name];
  if (!Array.isArray(value)) return [];
  return (value as XmlNode[]).filter((child) => !(COMMENT in child));
}

/** All text inside a node (SSML tags such as <break> or <prosody> contribute their text). */
function textOf(node: XmlNode): string {
  if (TEXT in node) return String(node[TEXT]);
  const parts = childNodes(node).map(textOf).filter((part) => part !== '');
  return parts.join(' ').replace(/\s+/g, ' ').trim();
}

function method(attrs: Record<string, string>, key: string, element: string): HttpMethod {
  const value = (attrs[key] ?? 'POST').toUpperCase();
  if (value !== 'GET' && value !== 'POST') throw new TwimlError(`<${element} ${key}="${attrs[key]}"> is not GET or POST`);
  return value;
}

function int(attrs: Record<string, string>, key: string, element: string, fallback: number, min: number): number {
  const raw = attrs[key];
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new TwimlError(`<${element} ${key}="${clip(raw)}"> is not an integer >= ${min}`);
  }
  return Number(raw);
}

function bool(attrs: Record<string, string>, key: string, element: string, fallback: boolean): boolean {
  const raw = attrs[key];
  if (raw === undefined) return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new TwimlError(`<${element} ${key}="${clip(raw)}"> is not true or false`);
}

function list(raw: string): string[] {
  return raw.split(/[\s,]+/).filter(Boolean);
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
