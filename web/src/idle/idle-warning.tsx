import { useEffect, useState } from 'react';
import { Button, Group, Modal, Text } from '@mantine/core';
import { setActivityHandler } from '../api/client';
import { startIdleClock, WARN_BEFORE_MS } from './idle-clock';

/**
 * Runs the page's idle clock for the session: warns a minute before `idleDeadline`, calls
 * `onLogoff` when it passes. Any answered request counts as activity (the server saw it too), but a
 * background one (a poll, `X-Background: 1`), which the server does not count either.
 */
export function useIdleLogoff(idleDeadline: string, idleMsLeft: number, onLogoff: () => void): { warningUntil: number | null } {
  const [warningUntil, setWarningUntil] = useState<number | null>(null);
  useEffect(() => {
    const clock = startIdleClock({
      // From the window the service reports, not its instant: the two clocks need not agree.
      expiresAt: Date.now() + idleMsLeft,
      warnBeforeMs: WARN_BEFORE_MS,
      now: Date.now,
      onWarn: (at) => setWarningUntil(at),
      onActive: () => setWarningUntil(null),
      onExpire: onLogoff,
    });
    setActivityHandler(() => clock.touch());
    setWarningUntil(null);
    return () => {
      clock.stop();
      setActivityHandler(null);
    };
    // A new deadline (a fresh GET /api/session) restarts the clock; its window comes with it.
  }, [idleDeadline, onLogoff]);
  return { warningUntil };
}

function secondsLeft(until: number): number {
  return Math.max(0, Math.ceil((until - Date.now()) / 1000));
}

/** The warning itself: how long is left, and one button to stay (which asks the server). */
export function IdleWarning({ until, onStay, onSignOut }: { until: number | null; onStay: () => void; onSignOut: () => void }) {
  const [left, setLeft] = useState(() => (until === null ? 0 : secondsLeft(until)));
  useEffect(() => {
    if (until === null) return undefined;
    setLeft(secondsLeft(until));
    const tick = setInterval(() => setLeft(secondsLeft(until)), 1000);
    return () => clearInterval(tick);
  }, [until]);
  return (
    <Modal opened={until !== null} onClose={onStay} title="Still there?" centered closeOnClickOutside={false}>
      <Text mb="md" aria-live="polite">
        For the patients' privacy you will be signed out in {left} seconds unless you continue. Anything on the page will be cleared.
      </Text>
      <Group justify="flex-end">
        <Button variant="default" onClick={onSignOut}>
          Sign out now
        </Button>
        <Button onClick={onStay} data-autofocus>
          Stay signed in
        </Button>
      </Group>
    </Modal>
  );
}
