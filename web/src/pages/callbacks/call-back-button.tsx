import { useMutation } from '@tanstack/react-query';
import { Alert, Button, Stack } from '@mantine/core';
import { ApiError, describeError } from '../../api/errors';
import { callBack } from './api';

/** What a failed call-back says: a 404 means this service cannot place the call (the route is missing), not that the page is broken. */
export function callBackProblem(err: unknown): string {
  if (err instanceof ApiError && err.kind === 'not_found') return 'Calling back through the practice line is not available on this service yet. Call the number from the practice phone instead.';
  if (err instanceof ApiError && err.kind === 'conflict') return `This call cannot be placed now: ${err.message}`;
  return describeError(err);
}

/**
 * One button: the practice line rings you, then connects you to the patient with the practice's
 * number as caller ID (POST /api/tasks/:id/call). Your own number is never shown to the patient.
 */
export function CallBackButton({ taskId, size = 'md', fullWidth = false }: { taskId: string; size?: 'md' | 'lg'; fullWidth?: boolean }) {
  const call = useMutation({ mutationFn: () => callBack(taskId) });
  return (
    <Stack gap="xs">
      <Button size={size} fullWidth={fullWidth} loading={call.isPending} onClick={() => call.mutate()}>
        Call back from the practice line
      </Button>
      {call.isSuccess ? (
        <Alert color="teal" role="status">
          The practice line is calling your phone now. Press 1 when it rings to be connected.
        </Alert>
      ) : null}
      {call.isError ? (
        <Alert color="red" role="alert" title="Could not start the call">
          {callBackProblem(call.error)}
        </Alert>
      ) : null}
    </Stack>
  );
}
