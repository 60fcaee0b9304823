import { act, cleanup, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { MantineProvider } from '@mantine/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleWarning, useIdleLogoff } from './idle-warning';

// Mantine's env="test" renders the modal without its transition (no animation frames to wait for).
function Frame({ expiresAt, onLogoff }: { expiresAt: string; onLogoff: () => void }) {
  // The service's clock may differ from the page's: the window left when the session was read is what counts.
  const [msLeft] = useState(() => Date.parse(expiresAt) - Date.now());
  const { warningUntil } = useIdleLogoff(expiresAt, msLeft, onLogoff);
  return <IdleWarning until={warningUntil} onStay={() => undefined} onSignOut={onLogoff} />;
}

describe('idle warning in the page', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-26T03:00:00Z'), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
  });

  it('says nothing until a minute before idleDeadline, then warns with the seconds left, then logs off', () => {
    const onLogoff = vi.fn();
    const expiresAt = new Date(Date.now() + 5 * 60_000).toISOString();
    render(
      <MantineProvider env="test" withCssVariables={false} withGlobalClasses={false} forceColorScheme="light">
        <Frame expiresAt={expiresAt} onLogoff={onLogoff} />
      </MantineProvider>,
    );
    expect(screen.queryByText(/you will be signed out/i)).toBeNull();
    act(() => {
      vi.advanceTimersByTime(4 * 60_000);
    });
    expect(screen.getByText(/you will be signed out in 60 seconds/i)).toBeTruthy();
    expect(onLogoff).not.toHaveBeenCalled();
    act(() => {
      vi.advanceTimersByTime(30_000);
    });
    expect(screen.getByText(/you will be signed out in 30 seconds/i)).toBeTruthy();
    act(() => {
      vi.advanceTimersByTime(30_000);
    });
    expect(onLogoff).toHaveBeenCalledTimes(1);
  });
});
