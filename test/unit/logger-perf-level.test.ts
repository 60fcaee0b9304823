import { describe, it, expect, vi } from 'vitest';
import winston from 'winston';
import { createLogger, isLogged } from '../../src/log/logger.js';
import { memoryStream } from '../support/memory-stream.js';

/**
 * Entries below every active level are dropped before the redacting format does any work, and what is
 * written at each level is unchanged: winston's own rule (a transport writes an entry when its own
 * level, else the logger's, is at least as verbose) decides, and every written line is redacted.
 */

const LEVELS = Object.keys(winston.config.npm.levels);
const rank = (level: string): number => winston.config.npm.levels[level] ?? Number.NaN;
const PHI = ['+12025550123', '2025550123', '1980-04-15', 'Jane'];


/** Metadata whose nested value counts how often it is read: winston copies metadata shallowly, only redaction walks into it. */
function probe(): { meta: Record<string, unknown>; reads: () => number } {
  let reads = 0;
  const nested = {
    get detail(): string {
      reads += 1;
      return 'callback 2025550123';
    },
  };
  return { meta: { context: nested }, reads: () => reads };
}

describe('entries below the active level', () => {
  it('are dropped before redaction reads their metadata', () => {
    const { stream, lines } = memoryStream();
    const log = createLogger({ level: 'error', stream });
    const dropped = probe();
    log.info('request', dropped.meta);
    log.debug('detail', dropped.meta);
    log.log('warn', 'warned', dropped.meta);
    log.child({ leg: 'outbound' }).info('child', dropped.meta);
    expect(lines).toEqual([]);
    expect(dropped.reads()).toBe(0);

    const written = probe();
    log.error('failed', written.meta);
    expect(written.reads()).toBe(1);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ message: 'failed', context: { detail: 'callback [phone]' } });
  });

  it('write exactly the lines winston would, for every logger level and entry level', () => {
    for (const loggerLevel of LEVELS) {
      const { stream, lines } = memoryStream();
      const log = createLogger({ level: loggerLevel, stream });
      for (const level of LEVELS) log.log(level, `at ${level}`);
      const expected = LEVELS.filter((level) => rank(level) <= rank(loggerLevel)).map((level) => `at ${level}`);
      expect(lines.map((l) => (JSON.parse(l) as { message: string }).message), loggerLevel).toEqual(expected);
      for (const level of LEVELS) expect(isLogged(level, log), `${level} on ${loggerLevel}`).toBe(rank(level) <= rank(loggerLevel));
    }
  });

  it('follow a level change at once', () => {
    const { stream, lines } = memoryStream();
    const log = createLogger({ level: 'warn', stream });
    log.info('before');
    log.level = 'debug';
    log.info('after');
    log.level = 'error';
    log.info('again dropped');
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['after']);
  });

  it('drop an entry at an unknown level, as winston does (after its warning)', () => {
    const { stream, lines } = memoryStream();
    const log = createLogger({ level: 'silly', stream });
    const warning = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      log.log({ level: 'nonsense', message: 'x' });
      expect(warning).toHaveBeenCalledWith('[winston] Unknown logger level: %s', 'nonsense');
    } finally {
      warning.mockRestore();
    }
    expect(lines).toEqual([]);
    expect(isLogged('nonsense', log)).toBe(false);
  });
});

describe('transports with their own level', () => {
  it('a more verbose transport still gets, fully redacted, what the logger level alone would drop', () => {
    const main = memoryStream();
    const verbose = memoryStream();
    const log = createLogger({ level: 'error', stream: main.stream });
    expect(isLogged('debug', log)).toBe(false);
    log.add(new winston.transports.Stream({ stream: verbose.stream, level: 'debug' }));
    expect(isLogged('debug', log)).toBe(true);
    expect(isLogged('silly', log)).toBe(false);

    log.debug('caller +12025550123 born 1980-04-15', { patient: { firstName: 'Jane' }, note: 'call 2025550123' });
    log.silly('too verbose for both');
    expect(main.lines).toEqual([]);
    expect(verbose.lines).toHaveLength(1);
    const line = verbose.lines[0] ?? '';
    expect(JSON.parse(line)).toMatchObject({ level: 'debug', message: 'caller [phone] born [date]' });
    for (const identity of PHI) expect(line).not.toContain(identity);
  });

  it('a stricter transport drops what the logger level lets through, while the others keep it', () => {
    const main = memoryStream();
    const strict = memoryStream();
    const log = createLogger({ level: 'info', stream: main.stream });
    log.add(new winston.transports.Stream({ stream: strict.stream, level: 'error' }));
    log.info('kept by main');
    log.error('kept by both');
    expect(main.lines).toHaveLength(2);
    expect(strict.lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['kept by both']);
  });

  it('a transport with its own filtering (its own _write) is assumed to take every entry', () => {
    const main = memoryStream();
    const log = createLogger({ level: 'error', stream: main.stream });
    const seen: unknown[] = [];
    const custom = new winston.transports.Stream({ stream: memoryStream().stream });
    custom._write = (info: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void => {
      seen.push(info);
      callback();
    };
    log.add(custom);
    expect(isLogged('silly', log)).toBe(true);
    log.debug('for the custom transport', { From: '+12025550123' });
    expect(main.lines).toEqual([]);
    expect(seen).toHaveLength(1);
    // It still gets the redacted entry, never the caller's object.
    expect(JSON.stringify(seen[0])).not.toContain('2025550123');
  });
});
