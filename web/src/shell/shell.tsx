import { useCallback, useState } from 'react';
import { NavLink, Navigate, Outlet, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { Badge, Burger, Button, NativeSelect, Text } from '@mantine/core';
import { useSession, signOut, switchPractice, activeRole, SESSION_KEY } from '../api/session';
import type { Session } from '../api/types';
import { ErrorState, Loading } from '../components/states';
import { IdleWarning, useIdleLogoff } from '../idle/idle-warning';
import { SECTIONS } from './nav';

/** Every page but sign-in: the session is required; without one, to sign-in (and back here after). */
export function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <Loading label="Checking your session" />;
  if (session.isError) return <ErrorState error={session.error} onRetry={() => void session.refetch()} />;
  if (session.data === null) return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return <Shell session={session.data} />;
}

/**
 * The frame: the practice, the sections, sign out, and the idle logoff. Logoff (idle, sign
 * out, a 401) clears the query cache and unmounts every page, so nothing read stays on screen.
 */
function Shell({ session }: { session: Session }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const [menuOpen, setMenuOpen] = useState(false);
  const [switchError, setSwitchError] = useState<unknown>(null);

  const leave = useCallback(
    async (reason: 'idle' | 'signed_out') => {
      await signOut();
      client.clear();
      client.setQueryData(SESSION_KEY, null);
      await navigate('/sign-in', { replace: true, state: reason === 'idle' ? { reason: 'idle' } : null });
    },
    [client, navigate],
  );
  const onIdle = useCallback(() => void leave('idle'), [leave]);
  const { warningUntil } = useIdleLogoff(session.idleDeadline, session.idleMsLeft, onIdle);
  const role = activeRole(session);
  const active = session.memberships.find((m) => m.practiceId === session.activePracticeId);

  return (
    <div className="shell" data-menu-open={menuOpen ? 'true' : 'false'}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="shell-header">
        <Burger className="shell-burger" opened={menuOpen} onClick={() => setMenuOpen(!menuOpen)} aria-label={menuOpen ? 'Close navigation' : 'Open navigation'} aria-controls="shell-nav" aria-expanded={menuOpen} size="sm" />
        <Text fw={700} className="shell-brand">
          After-hours console
        </Text>
        <div className="shell-practice">
          {session.memberships.length > 1 ? (
            <NativeSelect
              aria-label="Practice"
              size="xs"
              value={session.activePracticeId ?? ''}
              data={session.memberships.map((m) => ({ value: m.practiceId, label: `${m.practiceName ?? m.practiceId} (${m.role})` }))}
              onChange={(e) => {
                setSwitchError(null);
                switchPractice(client, e.currentTarget.value).catch((err: unknown) => setSwitchError(err));
              }}
            />
          ) : (
            <Text size="sm">{active?.practiceName ?? ''}</Text>
          )}
          {role ? (
            <Badge variant="light" size="sm">
              {role}
            </Badge>
          ) : null}
        </div>
        <Button size="xs" variant="default" onClick={() => void leave('signed_out')}>
          Sign out
        </Button>
      </header>
      <nav id="shell-nav" className="shell-nav" aria-label="Sections">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.path}>
              {s.built ? (
                <NavLink to={s.path} onClick={() => setMenuOpen(false)} className="nav-link">
                  {s.label}
                </NavLink>
              ) : (
                <span className="nav-link nav-disabled" aria-disabled="true">
                  {s.label}
                  <span className="nav-note"> (not yet available)</span>
                </span>
              )}
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="shell-main" tabIndex={-1}>
        {switchError !== null ? <ErrorState error={switchError} title="Could not switch practice" /> : null}
        <Outlet context={session} />
      </main>
      <IdleWarning until={warningUntil} onStay={() => void client.refetchQueries({ queryKey: SESSION_KEY })} onSignOut={() => void leave('signed_out')} />
    </div>
  );
}
