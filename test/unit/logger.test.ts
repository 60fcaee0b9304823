import { describe, it, expect } from 'vitest';
import { setImmediate as tick } from 'node:timers/promises';
import winston from 'winston';
import {
  captureLogs,
  createLogger,
  currentLogContext,
  logger,
  setLogContext,
  withLogContext,
} from '../../src/log/logger.js';
import { memoryStream } from '../support/memory-stream.js';

const CALL_SID = 'CA0123456789abcdef0123456789abcdef';
const OTHER_CALL_SID = 'CAfedcba9876543210fedcba9876543210';
const IDENTITIES = ['Jane', 'Doe', '1980-04-15', '04151980', '+12025550123', '2025550123'];

type Line = Record<string, unknown>;


function memoryLogger(): { log: winston.Logger; lines: string[]; parsed: () => Line[] } {
  const { stream, lines } = memoryStream();
  const log = createLogger({ level: 'debug', stream, service: 'test' });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Line) };
}

function only(parsed: Line[]): Line {
  expect(parsed).toHaveLength(1);
  return parsed[0] as Line;
}

describe('createLogger', () => {
  it('writes one JSON object per line with level, message, service and an ISO timestamp', () => {
    const { log, parsed } = memoryLogger();
    log.info('server started');
    const line = only(parsed());
    expect(line).toMatchObject({ level: 'info', message: 'server started', service: 'test' });
    expect(typeof line['timestamp']).toBe('string');
    expect(new Date(line['timestamp'] as string).toISOString()).toBe(line['timestamp']);
  });

  it('redacts phone numbers, dates and keypad digits in the message', () => {
    const { log, parsed } = memoryLogger();
    log.info('caller +12025550123 dob 1980-04-15 pressed 04151980');
    expect(only(parsed())['message']).toBe('caller [phone] dob [date] pressed [date]');
  });

  it('redacts sensitive metadata at depth and scrubs the rest', () => {
    const { log, lines, parsed } = memoryLogger();
    log.info('patient verified', {
      patient: { firstName: 'Jane', lastName: 'Doe', dob: '1980-04-15' },
      From: '+12025550123',
      Digits: '04151980',
      reason: 'matched 2025550123',
      callSid: CALL_SID,
    });
    expect(only(parsed())).toMatchObject({
      patient: { firstName: '[REDACTED]', lastName: '[REDACTED]', dob: '[REDACTED]' },
      From: '[REDACTED]',
      Digits: '[REDACTED]',
      reason: 'matched [phone]',
      callSid: CALL_SID,
    });
    for (const identity of IDENTITIES) expect(lines.join('\n')).not.toContain(identity);
  });

  it('redacts an Error passed as metadata', () => {
    const { log, lines, parsed } = memoryLogger();
    log.error('lookup failed', { err: new Error('no patient for 2025550123') });
    const err = only(parsed())['err'] as Line;
    expect(err['name']).toBe('Error');
    expect(err['message']).toBe('no patient for [phone]');
    expect(err['stack']).toContain('no patient for [phone]');
    expect(lines.join('\n')).not.toContain('2025550123');
  });

  it('redacts an Error passed as the message', () => {
    const { log, lines, parsed } = memoryLogger();
    log.error(new Error('no patient for +12025550123'));
    const line = only(parsed());
    expect(line['message']).toBe('no patient for [phone]');
    expect((line['err'] as Line)['stack']).toContain('no patient for [phone]');
    expect(lines.join('\n')).not.toContain('2025550123');
  });

  it('redacts an Error passed as the second argument (winston copies its message and stack)', () => {
    const { log, lines, parsed } = memoryLogger();
    log.error('lookup failed:', new Error('no patient born 1980-04-15'));
    const line = only(parsed());
    expect(line['message']).toBe('lookup failed: no patient born [date]');
    expect(line['stack']).toContain('no patient born [date]');
    expect(lines.join('\n')).not.toContain('1980-04-15');
  });

  it('redacts entries logged as a single object, without mutating it', () => {
    const { log, parsed } = memoryLogger();
    const entry = { level: 'warn', message: 'callback to 2025550123', phoneNumber: '+12025550123' };
    log.log(entry);
    expect(only(parsed())).toMatchObject({ message: 'callback to [phone]', phoneNumber: '[REDACTED]' });
    expect(entry.phoneNumber).toBe('+12025550123');
  });

  it('redacts lines from child loggers', () => {
    const { log, parsed } = memoryLogger();
    log.child({ leg: 'outbound', to: '+12025550123' }).info('dialing');
    expect(only(parsed())).toMatchObject({ leg: 'outbound', to: '[REDACTED]', message: 'dialing' });
  });

  it('redacts for every transport, including ones added later', () => {
    const { log, lines } = memoryLogger();
    const extra = memoryStream();
    log.add(new winston.transports.Stream({ stream: extra.stream }));
    log.info('call from 2025550123', { callerName: 'Jane Doe' });
    expect(extra.lines).toHaveLength(1);
    for (const out of [lines, extra.lines]) {
      expect(out.join('\n')).not.toMatch(/2025550123|Jane/);
    }
  });

  it('drops winston SPLAT arguments instead of printing them raw', () => {
    const { log, lines } = memoryLogger();
    log.info('caller %s', '+12025550123');
    expect(lines.join('\n')).not.toContain('2025550123');
  });
});

describe('log context', () => {
  it('injects requestId and callSid from the context, and null outside any context', () => {
    const { log, parsed } = memoryLogger();
    log.info('startup');
    withLogContext({ requestId: 'req-1' }, () => {
      log.info('received');
      setLogContext({ callSid: CALL_SID });
      log.info('parsed');
    });
    const [startup, received, afterParse] = parsed();
    expect(startup).toMatchObject({ requestId: null, callSid: null });
    expect(received).toMatchObject({ requestId: 'req-1', callSid: null });
    expect(afterParse).toMatchObject({ requestId: 'req-1', callSid: CALL_SID });
  });

  it('follows each request across awaits without mixing concurrent requests', async () => {
    const { log, parsed } = memoryLogger();
    const handle = (requestId: string, callSid: string): Promise<void> =>
      withLogContext({ requestId }, async () => {
        await tick();
        setLogContext({ callSid });
        await tick();
        log.info('handled');
      });
    await Promise.all([handle('req-a', CALL_SID), handle('req-b', OTHER_CALL_SID)]);
    const pairs = parsed().map((l) => [l['requestId'], l['callSid']]);
    expect(pairs).toHaveLength(2);
    expect(pairs).toEqual(
      expect.arrayContaining([
        ['req-a', CALL_SID],
        ['req-b', OTHER_CALL_SID],
      ]),
    );
  });

  it('keeps the context of the call site when winston formats the entry later', () => {
    const { log, parsed } = memoryLogger();
    withLogContext({ requestId: 'req-corked', callSid: CALL_SID }, () => {
      log.cork();
      log.info('buffered');
    });
    log.uncork();
    expect(only(parsed())).toMatchObject({ requestId: 'req-corked', callSid: CALL_SID });
  });

  it('copies the context: setLogContext does not mutate the caller object, and outside a context is a no-op', () => {
    const ctx = { requestId: 'req-2' };
    withLogContext(ctx, () => {
      setLogContext({ callSid: CALL_SID });
      expect(currentLogContext()).toEqual({ requestId: 'req-2', callSid: CALL_SID });
    });
    expect(ctx).toEqual({ requestId: 'req-2' });
    setLogContext({ callSid: CALL_SID });
    expect(currentLogContext()).toEqual({});
  });

  it('strips control characters from context values', () => {
    const { log, parsed } = memoryLogger();
    withLogContext({ requestId: 'req-3\u001b[2J\u0000' }, () => log.info('x'));
    expect(only(parsed())['requestId']).toBe('req-3[2J');
  });
});

describe('default logger and captureLogs', () => {
  it.skipIf(process.env['LOG_LEVEL'] !== undefined)('defaults to warn under tests', () => {
    expect(logger.level).toBe('warn');
  });

  it('captures every line, at debug level, as valid JSON, and restore() stops capturing', () => {
    const levelBefore = logger.level;
    const capture = captureLogs();
    try {
      expect(logger.level).toBe('debug');
      logger.debug('debug line');
      logger.info('info line');
      const parsed = capture.lines().map((l) => JSON.parse(l) as Line);
      expect(parsed.map((l) => [l['level'], l['message']])).toEqual([
        ['debug', 'debug line'],
        ['info', 'info line'],
      ]);
    } finally {
      capture.restore();
    }
    expect(logger.level).toBe(levelBefore);
    logger.error('after restore');
    expect(capture.lines()).toHaveLength(2);
  });

  it('never writes the test identities, however they are logged', async () => {
    const capture = captureLogs();
    try {
      await withLogContext({ requestId: 'req-phi' }, async () => {
        setLogContext({ callSid: CALL_SID });
        logger.info('patient verified', {
          patient: { firstName: 'Jane', lastName: 'Doe', dob: '1980-04-15' },
          callers: [{ name: 'Jane Doe', phone: '+12025550123' }],
          From: '+12025550123',
          Caller: '2025550123',
          Digits: '04151980',
          body: { From: '+12025550123', SpeechResult: 'this is Jane Doe' },
          url: '/twilio/voice?From=%2B12025550123',
          headers: { cookie: 'sid=Jane', 'x-twilio-signature': 'Doe' },
        });
        await tick();
        logger.warn('callback to 2025550123 failed for dob 1980-04-15 after keypad 04151980');
        logger.error('verification failed', { err: new Error('no match for +12025550123 / 1980-04-15') });
        logger.error(new Error('lookup 2025550123 failed'));
        logger.debug('entered', { input: '04151980', retry: { caller: { firstName: 'Jane' } } });
        logger.info({ message: 'object entry 2025550123', patientName: 'Jane Doe' });
      });
    } finally {
      capture.restore();
    }
    const lines = capture.lines();
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      const parsed = JSON.parse(line) as Line;
      expect(parsed).toMatchObject({ requestId: 'req-phi', callSid: CALL_SID });
      for (const identity of IDENTITIES) expect(line).not.toContain(identity);
    }
  });
});
