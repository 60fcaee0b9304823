import { useState } from 'react';
import { Link, useOutletContext } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Anchor, Badge, Button, Checkbox, Group, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { describeError } from '../../api/errors';
import { usePageTitle } from '../../components/page-title';
import { Empty, ErrorState, Loading } from '../../components/states';
import { MATCH_LABELS, REASON_LABELS, STATUS_LABELS, when, type TaskStatus } from '../callbacks/api';
import { VOICEMAIL_FILTERS, acknowledgeVoicemail, fetchVoicemails, playable, type VoicemailSummary } from './api';
import { useUrlFilters } from '../../components/url-filters';
import { PhoneNumber } from '../../components/phone-number';
import { VoicemailPlayer } from './player';

/** The voicemail inbox (GET /api/voicemails): caller, reason, patient match, its callback; play, acknowledge. */
export function VoicemailPage() {
  usePageTitle('Voicemail');
  const session = useOutletContext<Session>();
  const [filters, apply] = useUrlFilters(VOICEMAIL_FILTERS);
  const unhandled = filters.unhandled === 'true';
  const narrowed = filters.urgency !== undefined || filters.from !== undefined || filters.to !== undefined;
  const list = useQuery({ queryKey: ['voicemails', session.activePracticeId, filters], queryFn: ({ signal }) => fetchVoicemails(filters, signal), retry: false });
  const listens = activeRole(session) !== 'auditor';
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Voicemail
      </Title>
      <Checkbox label="Only those still to handle" checked={unhandled} onChange={(e) => apply({ ...filters, unhandled: e.currentTarget.checked ? 'true' : undefined })} />
      {narrowed ? (
        <Group gap="xs">
          <Text size="sm">
            Showing {filters.urgency ? `${filters.urgency} ` : ''}voicemail{filters.from ? ` from ${when(filters.from)}` : ''}
            {filters.to ? ` to ${when(filters.to)}` : ''}.
          </Text>
          <Button size="compact-sm" variant="subtle" onClick={() => apply({ unhandled: filters.unhandled })}>
            Show all
          </Button>
        </Group>
      ) : null}
      {list.isPending ? <Loading label="Loading voicemail" /> : null}
      {list.isError ? <ErrorState error={list.error} title="Could not load the voicemail" onRetry={() => void list.refetch()} /> : null}
      {list.isSuccess && list.data.voicemails.length === 0 ? <Empty>No voicemail here.</Empty> : null}
      {list.data?.voicemails.map((v) => <VoicemailCard key={v.id} v={v} listens={listens} />)}
    </Stack>
  );
}

function VoicemailCard({ v, listens }: { v: VoicemailSummary; listens: boolean }) {
  const heading = `Voicemail ${v.referenceCode}`;
  return (
    <Paper withBorder p="md" component="article" aria-label={heading}>
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={2} size="h4">
            {heading}
          </Title>
          <Group gap="xs">
            {v.urgency === 'urgent' ? <Badge color="red">Urgent</Badge> : <Badge color="dark" variant="outline">Routine</Badge>}
            {v.acknowledgedAt ? <Badge color="dark">Heard</Badge> : <Badge color="dark" variant="outline">New</Badge>}
          </Group>
        </Group>
        <dl className="facts">
          <dt>Left</dt>
          <dd>{when(v.createdAt)}</dd>
          <dt>Caller</dt>
          <dd>
            <PhoneNumber number={v.callerNumber} />
          </dd>
          <dt>Reason</dt>
          <dd>{v.reason ? REASON_LABELS[v.reason] : 'Not given'}</dd>
          <dt>Patient</dt>
          <dd>{MATCH_LABELS[v.patient.match]}</dd>
          {v.acknowledgedAt ? (
            <>
              <dt>Heard</dt>
              <dd>
                {when(v.acknowledgedAt)}
                {v.acknowledgedByName ? ` by ${v.acknowledgedByName}` : ''}
              </dd>
              {v.acknowledgedWithNote ? (
                <>
                  <dt>Note</dt>
                  <dd>{v.acknowledgedNote ?? 'Left (not shown to auditors)'}</dd>
                </>
              ) : null}
            </>
          ) : null}
          <dt>Callback</dt>
          <dd>
            {v.task ? (
              <Anchor component={Link} to={`/callbacks/${v.task.id}`}>
                {STATUS_LABELS[v.task.status as TaskStatus] ?? v.task.status}
              </Anchor>
            ) : (
              'None yet'
            )}
          </dd>
        </dl>
        {listens && playable(v) ? <VoicemailPlayer id={v.id} label={`Play ${heading}`} /> : null}
        {listens && !playable(v) ? <Text size="sm" c="dimmed">No recording to play ({v.state}).</Text> : null}
        {listens && !v.acknowledgedAt ? <AckForm id={v.id} heading={heading} /> : null}
      </Stack>
    </Paper>
  );
}

function AckForm({ id, heading }: { id: string; heading: string }) {
  const client = useQueryClient();
  const [note, setNote] = useState('');
  const ack = useMutation({ mutationFn: () => acknowledgeVoicemail(id, note), onSuccess: () => client.invalidateQueries({ queryKey: ['voicemails'] }) });
  return (
    <form
      aria-label={`Acknowledge ${heading}`}
      onSubmit={(e) => {
        e.preventDefault();
        ack.mutate();
      }}
      className="ack-form"
    >
      <TextInput label="Note (optional)" value={note} onChange={(e) => setNote(e.currentTarget.value)} maxLength={2000} />
      <Button type="submit" variant="light" loading={ack.isPending}>
        Mark heard
      </Button>
      {ack.isError ? (
        <Alert color="red" role="alert">
          {describeError(ack.error)}
        </Alert>
      ) : null}
    </form>
  );
}
