/**
 * The one logger: winston, JSON lines, every line redacted.
 *
 * Redaction lives in the logger's top-level `format`, which winston applies
 * before an entry reaches any transport, so a transport added later (a file,
 * a test capture) cannot bypass it. The same format drops, before any
 * redaction work, an entry that no transport would write at its level (winston
 * itself filters by level only later, in each transport). `requestId` and
 * `callSid` come from an AsyncLocalStorage context set by the HTTP edge.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Writable } from 'node:stream';
import winston from 'winston';
import { redactString, redactValue, sanitizeString } from './redact.js';

export interface LogContext {
  requestId?: string;
  callSid?: string;
}

// Same symbols as triple-beam (a winston dependency we do not import directly).
const LEVEL = Symbol.for('level');
/** Context captured when the entry is written, in case winston processes it later. */
const CONTEXT = Symbol('logContext');

const storage = new AsyncLocalStorage<LogContext>();

/** Run `fn` with a fresh copy of `ctx` as the log context (for the whole async call tree). */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...ctx }, fn);
}

/** Add to the current context (e.g. the callSid once the Twilio body is parsed). No-op outside a context. */
export function setLogContext(patch: Partial<LogContext>): void {
  const store = storage.getStore();
  if (store !== undefined) Object.assign(store, patch);
}

/** A copy of the current context; `{}` outside any context. */
export function currentLogContext(): LogContext {
  const store = storage.getStore();
  return store === undefined ? {} : { ...store };
}

/** `null` when the entry was written outside any context. */
type Info = winston.Logform.TransformableInfo & { [CONTEXT]?: LogContext | null };

/** Keys the formatter writes itself; metadata cannot override them. */
const RESERVED = new Set(['level', 'message', 'timestamp']);

function redactMessage(message: unknown): string {
  if (typeof message === 'string') return redactString(message);
  if (message === undefined || message === null) return '';
  if (message instanceof Error) return redactString(message.message);
  const value = redactValue(undefined, message);
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
  } catch {
    return '[unserializable]';
  }
}

function contextValue(value: string | undefined): string | null {
  return value === undefined ? null : sanitizeString(value);
}

/**
 * Build a new, fully redacted entry. The input may be the caller's own object
 * or an Error (`logger.error(err)`); neither is mutated, and nothing from it
 * (including winston's SPLAT copy of the raw metadata) is carried over except
 * through redactValue.
 */
function redactInfo(info: Info, level: string, now: Date = new Date()): winston.Logform.TransformableInfo {
  const stamped = info[CONTEXT];
  const ctx = stamped === undefined ? storage.getStore() : (stamped ?? undefined);
  const out: Record<string | symbol, unknown> = {
    level,
    message: redactMessage(info.message),
  };
  out[LEVEL] = level;

  for (const [key, value] of Object.entries(info)) {
    if (RESERVED.has(key)) continue;
    Object.defineProperty(out, redactString(key), {
      value: redactValue(key, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  // An Error passed as the message, or as the whole entry: keep its name and (redacted) stack.
  const err = info instanceof Error ? info : info.message instanceof Error ? info.message : undefined;
  if (err !== undefined && out['err'] === undefined) out['err'] = redactValue('err', err);

  // Explicit metadata wins; otherwise the ambient context. null only outside any context.
  out['requestId'] = out['requestId'] ?? contextValue(ctx?.requestId);
  out['callSid'] = out['callSid'] ?? contextValue(ctx?.callSid);
  out['timestamp'] = now.toISOString();
  return out as winston.Logform.TransformableInfo;
}

/** The level an entry is written at, as redactInfo will write it (and so as the transports will filter it). */
function entryLevel(info: Info): string {
  const rawLevel = (info as Record<symbol, unknown>)[LEVEL] ?? info.level;
  // The common case, one of the logger's own level names, needs no scrubbing.
  return typeof rawLevel === 'string' && Object.hasOwn(winston.config.npm.levels, rawLevel)
    ? rawLevel
    : sanitizeString(String(rawLevel));
}

/**
 * winston-transport's `_write`, which filters entries by level as `anyTransportTakes` assumes (the Stream
 * transport inherits it). Should that ever stop being so, every transport counts as taking every entry.
 */
const TRANSPORT_WRITE: unknown = winston.transports.Stream.prototype._write;

type LevelledTransport = winston.transport & { levels?: Record<string, number> };

/**
 * Would any transport of `instance` write an entry at `level`? winston filters by level only in each
 * transport, after the logger's format has run: a transport writes an entry when its own level, else
 * the logger's, is at least as verbose (no level at all: everything). This mirrors that rule; a
 * transport that replaces `_write` filters by its own rules and is assumed to take every entry.
 */
function anyTransportTakes(instance: winston.Logger, level: string): boolean {
  for (const transport of instance.transports as LevelledTransport[]) {
    if (transport._write !== TRANSPORT_WRITE) return true;
    const effective = transport.level || instance.level;
    if (!effective) return true;
    const levels = transport.levels ?? instance.levels;
    const limit = Object.hasOwn(levels, effective) ? levels[effective] : undefined;
    const value = Object.hasOwn(levels, level) ? levels[level] : undefined;
    if (typeof limit === 'number' && typeof value === 'number' && limit >= value) return true;
  }
  return false;
}

/**
 * The logger's top-level format: an entry no transport would write (below every active level) is
 * dropped here, before any redaction work (winston runs this format before the transports filter by
 * level); every other entry is redacted in full.
 */
const redactFormat = (instance: () => winston.Logger): winston.Logform.Format =>
  winston.format((info) => {
    const level = entryLevel(info as Info);
    return anyTransportTakes(instance(), level) ? redactInfo(info as Info, level) : false;
  })();

/**
 * Whether an entry at `level` would be written by `instance` (default: the default logger) right now.
 * Lets a caller skip building metadata that would only be dropped.
 */
export function isLogged(level: string, instance: winston.Logger = logger): boolean {
  return anyTransportTakes(instance, level);
}

function levelFromEnv(): string {
  const fromEnv = process.env['LOG_LEVEL'];
  if (fromEnv !== undefined && fromEnv in winston.config.npm.levels) return fromEnv;
  const testing = process.env['NODE_ENV'] === 'test' || process.env['VITEST'] !== undefined;
  return testing ? 'warn' : 'info';
}

/**
 * A winston logger that writes redacted JSON lines to `opts.stream`
 * (default process.stdout). Context is captured when an entry is written, so
 * it is right even if winston buffers the entry and formats it later.
 */
export function createLogger(
  opts: { level?: string; stream?: NodeJS.WritableStream; service?: string } = {},
): winston.Logger {
  const instance: winston.Logger = winston.createLogger({
    level: opts.level ?? levelFromEnv(),
    format: winston.format.combine(
      redactFormat(() => instance),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream: opts.stream ?? process.stdout })],
    ...(opts.service === undefined ? {} : { defaultMeta: { service: opts.service } }),
  });
  // Every logging path (level methods, log(), child loggers) ends in write(info), synchronously.
  const write = instance.write.bind(instance) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const stamped = (chunk: unknown, ...rest: unknown[]): boolean => {
    if (chunk !== null && typeof chunk === 'object') {
      const store = storage.getStore();
      // Reflect.defineProperty: a frozen entry is simply not stamped (the format falls back to the ALS).
      Reflect.defineProperty(chunk, CONTEXT, {
        value: store === undefined ? null : { ...store },
        enumerable: false,
        configurable: true,
      });
    }
    return write(chunk, ...rest);
  };
  instance.write = stamped as typeof instance.write;
  return instance;
}

/** The default logger. Level: LOG_LEVEL, else 'warn' under tests, else 'info'. */
export const logger: winston.Logger = createLogger({ service: 'after-hours-line' });

/**
 * Test helper: collect every line the default `logger` writes (at level
 * 'debug') until `restore()`. Other transports keep their previous level, so
 * stdout does not fill with debug lines.
 */
export function captureLogs(): { lines: () => string[]; restore: () => void } {
  const collected: string[] = [];
  let pending = '';
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback): void {
      pending += chunk.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      collected.push(...parts.filter((line) => line.length > 0));
      callback();
    },
  });
  const previousLevel = logger.level;
  const pinned = logger.transports.filter((t) => t.level === undefined);
  for (const t of pinned) t.level = previousLevel;
  const transport = new winston.transports.Stream({ stream: sink, eol: '\n' });
  logger.add(transport);
  logger.level = 'debug';
  let restored = false;
  return {
    lines: (): string[] => [...collected],
    restore: (): void => {
      if (restored) return;
      restored = true;
      logger.remove(transport);
      logger.level = previousLevel;
      for (const t of pinned) t.level = undefined;
    },
  };
}
