import { useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Alert, Button, Stack, TextInput } from '@mantine/core';
import { api } from '../../api/client';
import { ApiError, describeError } from '../../api/errors';
import { fieldError } from '../../auth/use-submit';
import { callBack } from './api';

/**
 * What a failed call-back says (POST /api/tasks/:id/call, src/http/task-routes.ts): a 404 is a
 * task not there (gone, or not this practice's); a 502 `call_failed` is Twilio refusing the call,
 * recorded on the task as a failed attempt, so it is said, not hidden behind "could not answer".
 */
export function callBackProblem(err: unknown): string {
  if (err instanceof ApiError && err.kind === 'not_found') return 'This callback is no longer there (or not in this practice). Reload the list.';
  if (err instanceof ApiError && err.code === 'call_failed') return 'The call could not be placed; the failed attempt is recorded on the callback. Try again, or call the number from the practice phone.';
  if (err instanceof ApiError && err.kind === 'conflict') return `This call cannot be placed now: ${err.message}`;
  return describeError(err);
}

/**
 * One button: the practice line rings you, then connects you to the patient with the practice's
 * number as caller ID (POST /api/tasks/:id/call). Your own number is never shown to the patient.
 */
export function CallBackButton({ taskId, size = 'md', fullWidth = false }: { taskId: string; size?: 'md' | 'lg'; fullWidth?: boolean }) {
  const call = useMutation({ mutationFn: () => callBack(taskId) });
  const [phone, setPhone] = useState('');
  // PUT /api/me/phone: the phone the practice line rings for this person (sealed, never echoed), then the call again.
  const savePhone = useMutation({
    mutationFn: () => api<unknown>('/api/me/phone', { method: 'PUT', body: { phone: phone.trim() } }),
    onSuccess: () => call.mutate(),
  });
  const needsPhone = call.error instanceof ApiError && call.error.code === 'no_phone';
  return (
    <Stack gap="xs">
      <Button size={size} fullWidth={fullWidth} loading={call.isPending} onClick={() => call.mutate()}>
        Call back from the practice line
      </Button>
      {needsPhone ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            savePhone.mutate();
          }}
        >
          <Stack gap="xs">
            <TextInput
              label="Your phone for call backs"
              description="The practice line rings it first (+1 and 10 digits). Never shown to the patient."
              required
              type="tel"
              autoComplete="off"
              value={phone}
              onChange={(e) => setPhone(e.currentTarget.value)}
              error={fieldError(savePhone.error, 'phone') ?? (savePhone.isError ? describeError(savePhone.error) : undefined)}
            />
            <Button type="submit" loading={savePhone.isPending}>
              Save and call back
            </Button>
          </Stack>
        </form>
      ) : null}
      {call.isSuccess ? (
        <Alert color="teal" role="status">
          The practice line is calling your phone now. Press 1 when it rings to be connected.
        </Alert>
      ) : null}
      {call.isError && !needsPhone ? (
        <Alert color="red" role="alert" title="Could not start the call">
          {callBackProblem(call.error)}
        </Alert>
      ) : null}
    </Stack>
  );
}
