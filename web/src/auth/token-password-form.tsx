import { useState, type ReactNode } from 'react';
import { useNavigate } from 'react-router';
import { Alert, Button, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { usePageTitle } from '../components/page-title';
import { useLinkToken } from './link-token';
import { fieldError, useSubmit } from './use-submit';

/**
 * What the invitation and reset links share: a page that reads its one-time token from the
 * address's fragment (./link-token.ts), and a form that sets a password with it, then sends the
 * person to the normal sign-in.
 */

/** The page a link opens: its title and heading, and what it shows once it holds the token. */
export function TokenLinkPage({ title, heading, what, children }: { title: string; heading: string; what: 'invitation' | 'reset'; children: (token: string) => ReactNode }) {
  usePageTitle(title);
  const token = useLinkToken();
  return (
    <main className="sign-in">
      <Paper withBorder shadow="sm" p="lg" radius="md" className="sign-in-card">
        <Stack gap="md">
          <Title order={1} size="h2">
            {heading}
          </Title>
          {token === null ? <LinkIncomplete what={what} /> : children(token)}
        </Stack>
      </Paper>
    </main>
  );
}

/** The link came without its token (cut short when copied, or opened a second time after the page took it). */
export function LinkIncomplete({ what }: { what: 'invitation' | 'reset' }) {
  return (
    <Alert color="yellow" title="This link is incomplete">
      {what === 'invitation'
        ? 'Open the link in your invitation again (the whole link, as it was sent), or ask your practice’s admin for a new invitation.'
        : 'Open the link you were sent again (the whole link), or ask your practice’s admin for a new one.'}
    </Alert>
  );
}

export interface TokenPasswordFormProps {
  /** The form's accessible name. */
  label: string;
  intro: ReactNode;
  passwordLabel: string;
  submitLabel: string;
  /** Fields above the password, given the refusal so far (for their messages). */
  fields?: (error: unknown) => ReactNode;
  /** Sends the password (with the token and any other field); resolves once the service has taken it. */
  send: (password: string) => Promise<unknown>;
  /** What the sign-in page then says happened. */
  doneReason: 'accepted' | 'password_reset';
  /** What a refusal says beyond the fields' own messages. */
  refusal: (error: unknown) => ReactNode;
}

/** A new password (the service's rules: at least 12 characters, not a common one), then the normal sign-in. */
export function TokenPasswordForm({ label, intro, passwordLabel, submitLabel, fields, send, doneReason, refusal }: TokenPasswordFormProps) {
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const { busy, error, submit } = useSubmit(
    () => send(password),
    async () => {
      setPassword('');
      await navigate('/sign-in', { replace: true, state: { reason: doneReason } });
    },
  );
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label={label}>
      <Stack gap="sm">
        <Text size="sm">{intro}</Text>
        {fields?.(error)}
        <PasswordInput
          label={passwordLabel}
          description="At least 12 characters; a few unrelated words make a good one. Very common passwords are refused."
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={fieldError(error, 'password')}
        />
        {error !== null ? refusal(error) : null}
        <Button type="submit" loading={busy}>
          {submitLabel}
        </Button>
      </Stack>
    </form>
  );
}
