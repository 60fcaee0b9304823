import { useParams, useOutletContext } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Paper, Stack, Text, Title } from '@mantine/core';
import { api } from '../../api/client';
import { describeError } from '../../api/errors';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { ErrorState, Loading } from '../../components/states';
import { REASON_LABELS, fetchTask, type TaskDetail } from '../callbacks/api';
import { CallBackButton } from '../callbacks/call-back-button';
import { fetchVoicemails, playable, type VoicemailSummary } from '../voicemail/api';
import { VoicemailPlayer } from '../voicemail/player';

interface PageRow {
  id: string;
  callSid: string;
  referenceCode: string;
  status: 'open' | 'acknowledged' | string;
  createdAt: string;
  acknowledgedAt: string | null;
}

export interface PageBundle {
  page: PageRow;
  voicemail: VoicemailSummary | null;
  task: TaskDetail | null;
}

/** The page, the voicemail it announces (same call) and that voicemail's callback task, from the list routes. */
export function pickPage(pageId: string, pages: readonly PageRow[], voicemails: readonly VoicemailSummary[]): { page: PageRow; voicemail: VoicemailSummary | null } | null {
  const page = pages.find((p) => p.id === pageId);
  if (!page) return null;
  const voicemail = voicemails.find((v) => v.callSid === page.callSid) ?? voicemails.find((v) => v.referenceCode === page.referenceCode) ?? null;
  return { page, voicemail };
}

async function fetchPageBundle(pageId: string, signal: AbortSignal): Promise<PageBundle | null> {
  const [{ pages }, { voicemails }] = await Promise.all([api<{ pages: PageRow[] }>('/api/pages', { signal }), fetchVoicemails({}, signal)]);
  const picked = pickPage(pageId, pages, voicemails);
  if (!picked) return null;
  const task = picked.voicemail?.task ? await fetchTask(picked.voicemail.task.id, signal) : null;
  return { ...picked, task };
}

/**
 * The page view the on-call doctor opens from a page at 3 AM, on a phone: hear the urgent
 * voicemail, see the number and the reason, call back from the practice line in one press,
 * acknowledge the page. Only the page's id is in the URL.
 */
export function PageViewPage() {
  usePageTitle('Page');
  const { pageId = '' } = useParams();
  const session = useOutletContext<Session>();
  const client = useQueryClient();
  const key = ['page-view', session.activePracticeId, pageId];
  const bundle = useQuery({ queryKey: key, queryFn: ({ signal }) => fetchPageBundle(pageId, signal), retry: false });
  const ack = useMutation({
    mutationFn: () => api<unknown>(`/api/pages/${encodeURIComponent(pageId)}/ack`, { method: 'POST', body: {} }),
    onSuccess: () => client.invalidateQueries({ queryKey: key }),
  });
  if (bundle.isPending) return <Loading label="Loading the page" />;
  if (bundle.isError) return <ErrorState error={bundle.error} title="Could not load the page" onRetry={() => void bundle.refetch()} />;
  if (bundle.data === null) return <ErrorState error={new Error('This page was not found in your practice.')} title="No such page" />;
  const { page, voicemail, task } = bundle.data;
  const acknowledged = page.status === 'acknowledged' || ack.isSuccess;
  return (
    <Stack gap="md" className="page-view">
      <Title order={1} size="h2">
        Page {page.referenceCode}
      </Title>
      <Badge color={acknowledged ? 'dark' : 'red'} size="lg">
        {acknowledged ? 'Acknowledged' : 'Waiting for you'}
      </Badge>
      <Paper withBorder p="md">
        <dl className="facts">
          <dt>Callback number</dt>
          <dd className="big-number">{task?.callbackNumber ?? voicemail?.callerNumber ?? 'Not given'}</dd>
          <dt>Reason</dt>
          <dd>{task ? REASON_LABELS[task.reason] : voicemail?.reason ? REASON_LABELS[voicemail.reason] : 'Not given'}</dd>
        </dl>
      </Paper>
      {voicemail && playable(voicemail) ? <VoicemailPlayer id={voicemail.id} label="Play the urgent voicemail" /> : <Text c="dimmed">No recording to play yet.</Text>}
      {task ? <CallBackButton taskId={task.id} size="lg" fullWidth /> : null}
      {!acknowledged ? (
        <Button size="lg" fullWidth variant="filled" color="dark" loading={ack.isPending} onClick={() => ack.mutate()}>
          Acknowledge the page
        </Button>
      ) : null}
      {ack.isError ? (
        <Alert color="red" role="alert">
          {describeError(ack.error)}
        </Alert>
      ) : null}
    </Stack>
  );
}
