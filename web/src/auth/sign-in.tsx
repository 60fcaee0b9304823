import { useEffect, useState } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, Anchor, Button, Checkbox, Code, Divider, List, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import QRCode from 'qrcode';
import { ApiError, describeError } from '../api/errors';
import { SESSION_KEY, confirmTotp, enrolTotp, fetchSession, resumeSsoSignIn, signIn, verifyTotp } from '../api/session';
import type { SignInStep, TotpEnrolment } from '../api/types';
import { usePageTitle } from '../components/page-title';
import { fieldError, useSubmit } from './use-submit';

type Step = 'password' | 'totp' | 'enrol_totp';

/** Where single sign-on starts for a practice (the OpenID Connect work builds the route). */
export function ssoStartUrl(practiceSlug: string): string {
  return `/api/auth/oidc/start?practice=${encodeURIComponent(practiceSlug.trim().toLowerCase())}`;
}

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Sign-in: e-mail and password, then the second factor (a TOTP code or a recovery code), or,
 * the first time, enrolment (the authenticator's QR code and the recovery codes, shown once).
 * Or the practice's single sign-on. Nothing typed here is kept after the page moves on.
 */
export function SignInPage() {
  usePageTitle('Sign in');
  const [step, setStep] = useState<Step>('password');
  const navigate = useNavigate();
  const location = useLocation();
  const client = useQueryClient();
  const reason = (location.state as { reason?: string } | null)?.reason;
  const [params] = useSearchParams();
  const sso = params.get('sso');
  const [ssoError, setSsoError] = useState<'failed' | 'unavailable' | null>(sso === 'failed' || sso === 'unavailable' ? sso : null);

  // Back from the practice's single sign-on with the second factor still to come.
  useEffect(() => {
    if (sso !== 'totp' && sso !== 'enrol_totp') return;
    resumeSsoSignIn().then(setStep, () => setSsoError('failed'));
  }, [sso]);
  const from = (location.state as { from?: string } | null)?.from;

  const advance = async (next: SignInStep['next']): Promise<void> => {
    if (next !== 'done') {
      setStep(next);
      return;
    }
    await client.fetchQuery({ queryKey: SESSION_KEY, queryFn: fetchSession });
    await navigate(from !== undefined && from.startsWith('/') && !from.startsWith('//') ? from : '/', { replace: true });
  };

  return (
    <main className="sign-in">
      <Paper withBorder shadow="sm" p="lg" radius="md" className="sign-in-card">
        <Stack gap="md">
          <Title order={1} size="h2">
            After-hours console
          </Title>
          {reason === 'idle' ? (
            <Alert color="yellow" title="Signed out">
              You were signed out after a period of inactivity, and the page was cleared.
            </Alert>
          ) : null}
          {reason === 'expired' ? (
            <Alert color="yellow" title="Signed out">
              Your session ended. Sign in again to continue.
            </Alert>
          ) : null}
          {reason === 'accepted' ? (
            <Alert color="green" title="Your account is ready">
              Sign in with your e-mail and the password you chose. The first time, you then set up an authenticator app.
            </Alert>
          ) : null}
          {reason === 'password_reset' ? (
            <Alert color="green" title="Your new password is set">
              Sign in with your new password.
            </Alert>
          ) : null}
          {ssoError === 'failed' ? (
            <Alert color="red" title="Single sign-on did not sign you in">
              Your practice's sign-in was not accepted here. Ask your practice's admin whether your account is set up, or sign in with your password.
            </Alert>
          ) : null}
          {ssoError === 'unavailable' ? (
            <Alert color="yellow" title="Single sign-on is not available">
              This practice has no single sign-on set up, or its sign-in service could not be reached.
            </Alert>
          ) : null}
          {step === 'password' ? <PasswordStep onNext={advance} /> : null}
          {step === 'totp' ? <TotpStep onNext={advance} /> : null}
          {step === 'enrol_totp' ? <EnrolStep onNext={advance} /> : null}
          {step === 'password' ? <SsoLink /> : null}
        </Stack>
      </Paper>
    </main>
  );
}

/** A refusal not tied to one field (wrong password, too many attempts), said above the button. */
function FormError({ error, fields }: { error: unknown; fields: string[] }) {
  if (error === null) return null;
  if (error instanceof ApiError && error.fields.length > 0 && error.fields.every((f) => fields.some((name) => f.field === name || f.field.endsWith(`.${name}`)))) return null;
  const message = error instanceof ApiError && error.kind === 'unauthorized' ? 'That did not match. Check it and try again.' : describeError(error);
  return (
    <Alert color="red" role="alert">
      {message}
    </Alert>
  );
}

function PasswordStep({ onNext }: { onNext: (next: SignInStep['next']) => Promise<void> }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, submit } = useSubmit(() => signIn(email.trim(), password), async (r) => {
    setPassword('');
    await onNext(r.next);
  });
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label="Sign in with e-mail and password">
      <Stack gap="sm">
        <TextInput label="E-mail" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={fieldError(error, 'email')} />
        <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} error={fieldError(error, 'password')} />
        <FormError error={error} fields={['email', 'password']} />
        <Button type="submit" loading={busy}>
          Continue
        </Button>
      </Stack>
    </form>
  );
}

function TotpStep({ onNext }: { onNext: (next: SignInStep['next']) => Promise<void> }) {
  const [useRecovery, setUseRecovery] = useState(false);
  const [code, setCode] = useState('');
  const { busy, error, submit } = useSubmit(() => verifyTotp(useRecovery ? { recoveryCode: code.trim() } : { code: code.replace(/\s/g, '') }), async (r) => {
    setCode('');
    await onNext(r.next);
  });
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label="Second factor">
      <Stack gap="sm">
        <Text size="sm">{useRecovery ? 'Enter one of the recovery codes you saved when you set up your authenticator. Each works once.' : 'Enter the six-digit code your authenticator app shows.'}</Text>
        {useRecovery ? (
          <TextInput label="Recovery code" autoComplete="off" required value={code} onChange={(e) => setCode(e.currentTarget.value)} error={fieldError(error, 'recoveryCode')} />
        ) : (
          <TextInput label="Authenticator code" inputMode="numeric" autoComplete="one-time-code" maxLength={6} required value={code} onChange={(e) => setCode(e.currentTarget.value)} error={fieldError(error, 'code')} />
        )}
        <FormError error={error} fields={['code', 'recoveryCode']} />
        <Button type="submit" loading={busy}>
          Verify
        </Button>
        <Anchor component="button" type="button" size="sm" onClick={() => { setUseRecovery(!useRecovery); setCode(''); }}>
          {useRecovery ? 'Use the authenticator code instead' : 'Use a recovery code instead'}
        </Anchor>
      </Stack>
    </form>
  );
}

/** First sign-in: set up the authenticator. The secret and the recovery codes are shown once and kept only in this component. */
function EnrolStep({ onNext }: { onNext: (next: SignInStep['next']) => Promise<void> }) {
  const [enrolment, setEnrolment] = useState<TotpEnrolment | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [code, setCode] = useState('');
  useEffect(() => {
    let live = true;
    enrolTotp()
      .then(async (e) => {
        if (!live) return;
        setEnrolment(e);
        const image = await QRCode.toDataURL(e.uri, { margin: 1, width: 200 });
        if (live) setQr(image);
      })
      .catch((err: unknown) => {
        if (live) setLoadError(err);
      });
    return () => {
      live = false;
    };
  }, []);
  const hasCodes = (enrolment?.recoveryCodes?.length ?? 0) > 0;
  const { busy, error, submit } = useSubmit(() => confirmTotp(code.replace(/\s/g, '')), async (r) => {
    setEnrolment(null);
    await onNext(r.next);
  });
  if (loadError !== null) return <Alert color="red" role="alert">{describeError(loadError)}</Alert>;
  if (enrolment === null) return <Text role="status">Preparing your authenticator set-up…</Text>;
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label="Set up the authenticator">
      <Stack gap="sm">
        <Title order={2} size="h4">
          Set up your authenticator
        </Title>
        <Text size="sm">Scan this code with an authenticator app (or enter the key below by hand), then type the six-digit code it shows.</Text>
        {qr !== null ? <img src={qr} width={200} height={200} alt="QR code for your authenticator app" className="qr" /> : null}
        <Text size="sm">
          Key: <Code className="break">{enrolment.secret}</Code>
        </Text>
        <details>
          <summary>Show the setup link</summary>
          <Code block className="break">
            {enrolment.uri}
          </Code>
        </details>
        {hasCodes ? (
          <>
            <Divider />
            <Text size="sm" fw={600}>
              Recovery codes: each signs you in once if you lose your phone. They are shown only now: write them down or store them in your password manager.
            </Text>
            <List size="sm" className="recovery-codes">
              {enrolment.recoveryCodes?.map((c) => (
                <List.Item key={c}>
                  <Code>{c}</Code>
                </List.Item>
              ))}
            </List>
            <Checkbox label="I have saved my recovery codes" checked={saved} onChange={(e) => setSaved(e.currentTarget.checked)} />
          </>
        ) : null}
        <TextInput label="Authenticator code" inputMode="numeric" autoComplete="one-time-code" maxLength={6} required value={code} onChange={(e) => setCode(e.currentTarget.value)} error={fieldError(error, 'code')} />
        <FormError error={error} fields={['code']} />
        <Button type="submit" loading={busy} disabled={hasCodes && !saved}>
          Finish set-up
        </Button>
      </Stack>
    </form>
  );
}

function SsoLink() {
  const [params] = useSearchParams();
  const [slug, setSlug] = useState(params.get('practice') ?? '');
  const valid = SLUG.test(slug.trim().toLowerCase());
  return (
    <Stack gap="xs">
      <Divider label="or" labelPosition="center" />
      <TextInput label="Practice code" description="The short name your practice uses, e.g. demo" autoComplete="organization" value={slug} onChange={(e) => setSlug(e.currentTarget.value)} />
      {valid ? (
        <Button component="a" href={ssoStartUrl(slug)} variant="default" className="wrap-button">
          Sign in with your practice's single sign-on
        </Button>
      ) : (
        <Button variant="default" disabled className="wrap-button">
          Sign in with your practice's single sign-on
        </Button>
      )}
    </Stack>
  );
}
