import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Stack, Text, TextInput, Title } from '@mantine/core';
import { ApiError } from '../../api/errors';
import { ErrorState } from '../../components/states';
import { patchPractice, type Practice } from './api';

/** A Twilio Messaging Service SID, as the API takes it (src/adapters/twilio-rest.ts). */
const MESSAGING_SERVICE_SID = /^MG[0-9a-f]{32}$/;

/** What is wrong with a typed SID, or undefined ('' clears it). */
export function messagingServiceSidProblem(value: string): string | undefined {
  const v = value.trim();
  return v === '' || MESSAGING_SERVICE_SID.test(v) ? undefined : 'Expected MG followed by 32 lower-case hexadecimal digits';
}

/**
 * The Twilio Messaging Service the practice's patient SMS go out through (PATCH
 * /api/practices/:id `messagingServiceSid`); none: patient SMS are refused. Admins change it.
 */
export function SmsPanel({ practice, admin }: { practice: Practice; admin: boolean }) {
  const client = useQueryClient();
  const [sid, setSid] = useState(practice.messagingServiceSid ?? '');
  const problem = messagingServiceSidProblem(sid);
  const save = useMutation({
    mutationFn: () => patchPractice(practice.id, { messagingServiceSid: sid.trim() === '' ? null : sid.trim() }),
    onSuccess: (updated) => client.setQueryData(['settings', practice.id, 'practice'], updated),
  });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (!problem) save.mutate();
  };
  const serverProblem = save.error instanceof ApiError ? save.error.fieldProblem('messagingServiceSid') : undefined;
  return (
    <section aria-labelledby="sms-heading">
      <Title order={2} size="h3" id="sms-heading" mb="xs">
        SMS
      </Title>
      <Stack gap="xs">
        <Text size="sm">
          {practice.messagingServiceSid ? (
            <>
              Patient texts go out through the Messaging Service <span className="mono">{practice.messagingServiceSid}</span>.
            </>
          ) : (
            'No Messaging Service: texts to patients are refused.'
          )}
        </Text>
        {admin ? (
          <form onSubmit={submit} aria-label="SMS settings" className="filters">
            <TextInput label="Messaging Service SID" placeholder="MG…" value={sid} onChange={(e) => setSid(e.currentTarget.value)} error={(sid.trim() !== '' ? problem : undefined) ?? serverProblem} />
            <div className="filters-actions">
              <Button type="submit" loading={save.isPending} disabled={problem !== undefined || sid.trim() === (practice.messagingServiceSid ?? '')}>
                Save SMS settings
              </Button>
            </div>
          </form>
        ) : null}
        {save.isError && !serverProblem ? <ErrorState error={save.error} title="Not saved" /> : null}
        {save.isSuccess ? (
          <Text size="sm" role="status">
            Saved.
          </Text>
        ) : null}
      </Stack>
    </section>
  );
}
