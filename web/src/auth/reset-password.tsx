import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { Alert, Button, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { ApiError, describeError } from '../api/errors';
import { completePasswordReset } from '../api/session';
import { usePageTitle } from '../components/page-title';
import { LinkIncomplete } from './accept-invitation';
import { useLinkToken } from './link-token';

/** The page a reset link opens (`/console/reset-password#token=…`): a new password, then the normal sign-in. */
export function ResetPasswordPage() {
  usePageTitle('Set a new password');
  const token = useLinkToken();
  return (
    <main className="sign-in">
      <Paper withBorder shadow="sm" p="lg" radius="md" className="sign-in-card">
        <Stack gap="md">
          <Title order={1} size="h2">
            Set a new password
          </Title>
          {token === null ? <LinkIncomplete what="reset" /> : <NewPasswordForm token={token} />}
        </Stack>
      </Paper>
    </main>
  );
}

function NewPasswordForm({ token }: { token: string }) {
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await completePasswordReset(token, password);
      setPassword('');
      await navigate('/sign-in', { replace: true, state: { reason: 'password_reset' } });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const passwordProblem = error instanceof ApiError ? error.fieldProblem('password') : undefined;
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label="Set a new password">
      <Stack gap="sm">
        <Text size="sm">Every session of yours ends when the password changes; you then sign in with it and your authenticator.</Text>
        <PasswordInput
          label="New password"
          description="At least 12 characters; a few unrelated words make a good one. Very common passwords are refused."
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={passwordProblem}
        />
        {error instanceof ApiError && error.kind === 'not_found' ? (
          <Alert color="red" role="alert" title="This link cannot be used">
            It was used already or it expired (a reset link lasts an hour). Ask for a new one.
          </Alert>
        ) : null}
        {error !== null && passwordProblem === undefined && !(error instanceof ApiError && error.kind === 'not_found') ? (
          <Alert color="red" role="alert">
            {describeError(error)}
          </Alert>
        ) : null}
        <Button type="submit" loading={busy}>
          Set the password
        </Button>
      </Stack>
    </form>
  );
}
