import { useParams, useOutletContext } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Paper, Stack, Text, Title } from '@mantine/core';
import { api } from '../../api/client';
import { ApiError, describeError } from '../../api/errors';
import type * as Generated from '../../api/generated';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { ErrorState, Loading } from '../../components/states';
import { REASON_LABELS, when } from '../callbacks/api';
import { CallBackButton } from '../callbacks/call-back-button';
import { playable } from '../voicemail/api';
import { VoicemailPlayer } from '../voicemail/player';

/** GET /api/pages/:pageId (src/oncall/page-detail.ts): the page, its voicemail and task by id, the number to call back. */
export type PageDetail = Generated.PageDetail;

/** One request: the page by id (404: not a page of this practice). */
async function fetchPage(pageId: string, signal: AbortSignal): Promise<PageDetail | null> {
  try {
    return await api<PageDetail>(`/api/pages/${encodeURIComponent(pageId)}`, { signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
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
  const bundle = useQuery({ queryKey: key, queryFn: ({ signal }) => fetchPage(pageId, signal), retry: false });
  const ack = useMutation({
    mutationFn: () => api<unknown>(`/api/pages/${encodeURIComponent(pageId)}/ack`, { method: 'POST', body: {} }),
    onSuccess: () => client.invalidateQueries({ queryKey: key }),
  });
  if (bundle.isPending) return <Loading label="Loading the page" />;
  if (bundle.isError) return <ErrorState error={bundle.error} title="Could not load the page" onRetry={() => void bundle.refetch()} />;
  if (bundle.data === null) return <ErrorState error={new Error('This page was not found in your practice.')} title="No such page" />;
  const page = bundle.data;
  const { voicemail, task } = page;
  const acknowledged = page.status === 'acknowledged' || ack.isSuccess;
  return (
    <Stack gap="md" className="page-view">
      <Title order={1} size="h2">
        Page {page.referenceCode}
      </Title>
      <Badge color={acknowledged ? 'dark' : 'red'} size="lg">
        {acknowledged ? 'Acknowledged' : 'Waiting for you'}
      </Badge>
      {page.acknowledgedAt ? (
        <Text size="sm">
          Acknowledged {when(page.acknowledgedAt)}
          {page.acknowledgedByName ? ` by ${page.acknowledgedByName}` : ''}
        </Text>
      ) : null}
      <Paper withBorder p="md">
        <dl className="facts">
          <dt>Callback number</dt>
          <dd className="big-number">{page.callbackNumber ?? 'Not given'}</dd>
          <dt>Reason</dt>
          <dd>{page.reason ? REASON_LABELS[page.reason] : 'Not given'}</dd>
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
