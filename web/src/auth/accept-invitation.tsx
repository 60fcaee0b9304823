import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Anchor, Button, Stack, Text, TextInput } from '@mantine/core';
import { ApiError, describeError } from '../api/errors';
import { SESSION_KEY, acceptInvitation, fetchSession, inspectInvitation, switchPractice, useSession } from '../api/session';
import type { Session } from '../api/types';
import { ssoStartUrl } from './sign-in';
import { TokenLinkPage, TokenPasswordForm } from './token-password-form';
import { fieldError } from './use-submit';

/** The page an invitation's link opens (`/console/accept-invitation#token=…`). */
export function AcceptInvitationPage() {
  return (
    <TokenLinkPage title="Accept an invitation" heading="Accept your invitation" what="invitation">
      {(token) => <AcceptWithToken token={token} />}
    </TokenLinkPage>
  );
}

/** Signed in already (joining one more practice) or a new person: the session says which. */
function AcceptWithToken({ token }: { token: string }) {
  const session = useSession();
  if (session.isPending) return <Text role="status">Checking whether you are signed in…</Text>;
  if (session.isError) return <Alert color="red" role="alert">{describeError(session.error)}</Alert>;
  return session.data !== null ? <AcceptSignedIn token={token} session={session.data} /> : <AcceptNewAccount token={token} />;
}

/** What the API's refusal of a link means to the person holding it. */
function LinkRefused({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.kind === 'not_found') {
    return (
      <Alert color="red" role="alert" title="This invitation cannot be used">
        It was used already, withdrawn, or it expired. Ask your practice’s admin for a new one.
      </Alert>
    );
  }
  if (error instanceof ApiError && error.code === 'sign_in_to_accept') {
    return (
      <Alert color="yellow" role="alert" title="You have an account already">
        This e-mail address already has an account. <Anchor component={Link} to="/sign-in">Sign in</Anchor> first (as the person invited), then open the link in your invitation again to join this practice.
      </Alert>
    );
  }
  if (error instanceof ApiError && error.kind === 'bad_request' && error.fields.every((f) => f.field === 'password' || f.field === 'displayName')) return null;
  return (
    <Alert color="red" role="alert">
      {describeError(error)}
    </Alert>
  );
}

/**
 * A new person. The service first says what the link may tell (the practice, and whether its
 * single sign-on is open to the invited person): then a name and "Continue with single sign-on"
 * (the account has no password; the practice's sign-in starts at once), else a name and a password.
 */
function AcceptNewAccount({ token }: { token: string }) {
  const preview = useQuery({ queryKey: ['invitation-preview', token], queryFn: () => inspectInvitation(token), retry: false, staleTime: Infinity, gcTime: 0 });
  if (preview.isPending) return <Text role="status">Reading your invitation…</Text>;
  if (preview.isError) return <LinkRefused error={preview.error} />;
  if (preview.data.sso && preview.data.ssoPractice !== null) return <AcceptWithSso token={token} practiceName={preview.data.practiceName} practiceSlug={preview.data.ssoPractice} />;
  return <AcceptWithPassword token={token} />;
}

/** Joining through the practice's single sign-on: a name, then the account is made and the practice's sign-in starts. */
function AcceptWithSso({ token, practiceName, practiceSlug }: { token: string; practiceName: string; practiceSlug: string }) {
  const [displayName, setDisplayName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await acceptInvitation({ token, displayName: displayName.trim() });
      window.location.assign(ssoStartUrl(practiceSlug));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label="Join through single sign-on">
      <Stack gap="sm">
        <Text size="sm">{practiceName} signs you in through its single sign-on: no password is needed here. Choose the name your colleagues will see, then continue to your organisation’s sign-in.</Text>
        <TextInput label="Your name" autoComplete="name" required maxLength={120} value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} error={fieldError(error, 'displayName')} />
        {error !== null ? <LinkRefused error={error} /> : null}
        <Button type="submit" loading={busy}>
          Continue with single sign-on
        </Button>
      </Stack>
    </form>
  );
}

/** A name and a password (the service's rules: at least 12 characters, not a common one), then the normal sign-in. */
function AcceptWithPassword({ token }: { token: string }) {
  const [displayName, setDisplayName] = useState('');
  return (
    <TokenPasswordForm
      label="Create your account"
      intro="Choose the name your colleagues will see and a password. Next you sign in with your e-mail and this password, and set up an authenticator app."
      passwordLabel="Password"
      submitLabel="Create my account"
      fields={(error) => <TextInput label="Your name" autoComplete="name" required maxLength={120} value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} error={fieldError(error, 'displayName')} />}
      send={(password) => acceptInvitation({ token, password, displayName: displayName.trim() })}
      doneReason="accepted"
      refusal={(error) => <LinkRefused error={error} />}
    />
  );
}

/** A person signed in already (an account in another practice): the session says who, the token says where. */
function AcceptSignedIn({ token, session }: { token: string; session: Session }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [joined, setJoined] = useState<{ practiceId: string; practiceName: string } | null>(null);
  const accept = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const accepted = await acceptInvitation({ token });
      const fresh = await client.fetchQuery({ queryKey: SESSION_KEY, queryFn: fetchSession });
      const name = fresh?.memberships.find((m) => m.practiceId === accepted.practiceId)?.practiceName ?? 'the practice';
      setJoined({ practiceId: accepted.practiceId, practiceName: name });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const open = async (): Promise<void> => {
    if (!joined) return;
    setBusy(true);
    try {
      await switchPractice(client, joined.practiceId);
      await navigate('/calls', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  if (joined) {
    return (
      <Stack gap="sm">
        <Alert color="green" title="Invitation accepted">
          You now belong to {joined.practiceName} too.
        </Alert>
        {error !== null ? <Alert color="red" role="alert">{describeError(error)}</Alert> : null}
        <Button onClick={() => void open()} loading={busy}>
          Open {joined.practiceName}
        </Button>
      </Stack>
    );
  }
  return (
    <Stack gap="sm">
      <Text size="sm">You are signed in{session.user.email ? ` as ${session.user.email}` : ''}. Accept to add the invited practice to your account; your password and authenticator stay as they are.</Text>
      {error !== null ? <LinkRefused error={error} /> : null}
      <Button onClick={() => void accept()} loading={busy}>
        Accept the invitation
      </Button>
    </Stack>
  );
}
