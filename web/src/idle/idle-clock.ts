/**
 * The page's copy of the server's idle logoff (HIPAA 164.312(a)(2)(iii)): a warning a minute
 * before the session would end, then the logoff. The server decides; the page follows its
 * `idleDeadline` so that nothing stays on screen after the session is gone.
 *
 * The idle window is what the server granted (idleDeadline − the moment it was read); each
 * answered request restarts it, as it restarts the server's.
 */
export interface IdleClockOptions {
  /** When the session ends if nothing happens (the server's idleDeadline). */
  expiresAt: number;
  /** How long before that to warn. */
  warnBeforeMs: number;
  now: () => number;
  onWarn: (expiresAt: number) => void;
  onExpire: () => void;
  /** Back to normal after a warning (activity, or "stay signed in"). */
  onActive?: () => void;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export interface IdleClock {
  /** Activity the server saw: the session now ends one window from now. */
  touch(): void;
  /** The server's own word (a fresh GET /api/session): end at this instant. */
  resetTo(expiresAt: number): void;
  readonly expiresAt: number;
  readonly state: 'active' | 'warning' | 'expired';
  stop(): void;
}

export const WARN_BEFORE_MS = 60_000;

export function startIdleClock(options: IdleClockOptions): IdleClock {
  const setTimer = options.setTimer ?? ((fn: () => void, ms: number): unknown => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((h: unknown): void => clearTimeout(h as ReturnType<typeof setTimeout>));
  const windowMs = Math.max(0, options.expiresAt - options.now());
  let expiresAt = options.expiresAt;
  let state: IdleClock['state'] = 'active';
  let timer: unknown = null;
  let stopped = false;

  const schedule = (): void => {
    if (timer !== null) clearTimer(timer);
    timer = null;
    if (stopped || state === 'expired') return;
    const left = expiresAt - options.now();
    if (left <= 0) {
      state = 'expired';
      options.onExpire();
      return;
    }
    if (left <= options.warnBeforeMs) {
      if (state !== 'warning') {
        state = 'warning';
        options.onWarn(expiresAt);
      }
      timer = setTimer(schedule, left);
      return;
    }
    if (state === 'warning') {
      state = 'active';
      options.onActive?.();
    }
    timer = setTimer(schedule, left - options.warnBeforeMs);
  };

  const clock: IdleClock = {
    touch() {
      if (stopped || state === 'expired') return;
      expiresAt = options.now() + windowMs;
      schedule();
    },
    resetTo(at: number) {
      if (stopped || state === 'expired') return;
      expiresAt = at;
      schedule();
    },
    get expiresAt() {
      return expiresAt;
    },
    get state() {
      return state;
    },
    stop() {
      stopped = true;
      if (timer !== null) clearTimer(timer);
      timer = null;
    },
  };
  schedule();
  return clock;
}
