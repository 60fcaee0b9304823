import { Alert } from '@mantine/core';
import { ApiError, describeError } from '../api/errors';
import { completePasswordReset } from '../api/session';
import { TokenLinkPage, TokenPasswordForm } from './token-password-form';

/** The page a reset link opens (`/console/reset-password#token=…`): a new password, then the normal sign-in. */
export function ResetPasswordPage() {
  return (
    <TokenLinkPage title="Set a new password" heading="Set a new password" what="reset">
      {(token) => (
        <TokenPasswordForm
          label="Set a new password"
          intro="Every session of yours ends when the password changes; you then sign in with it and your authenticator."
          passwordLabel="New password"
          submitLabel="Set the password"
          send={(password) => completePasswordReset(token, password)}
          doneReason="password_reset"
          refusal={(error) => <ResetRefused error={error} />}
        />
      )}
    </TokenLinkPage>
  );
}

/** What the API's refusal of a reset means to the person (a problem with the password shows at the field). */
function ResetRefused({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.kind === 'not_found') {
    return (
      <Alert color="red" role="alert" title="This link cannot be used">
        It was used already or it expired (a reset link lasts an hour). Ask for a new one.
      </Alert>
    );
  }
  if (error instanceof ApiError && error.fieldProblem('password') !== undefined) return null;
  return (
    <Alert color="red" role="alert">
      {describeError(error)}
    </Alert>
  );
}
