import { Link, useOutletContext, useParams } from 'react-router';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Group, Progress, Stack, Text, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { QueryTable, type Column } from '../../components/data-table';
import { ErrorState, Loading } from '../../components/states';
import { campaignBar, commandCampaign, fetchCampaign, fetchDrops, isSettled, reasonText, type Drop, type DropStatus } from './api';
import { StateBadge } from './campaigns-page';

/** How often a campaign still under way is asked how far it got. */
const POLL_MS = 1_000;

const STATUS_ORDER: DropStatus[] = ['pending', 'queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled'];
const STATUS_COLOR: Record<DropStatus, string> = { pending: 'gray', queued: 'blue', sent: 'cyan', delivered: 'green', failed: 'red', skipped: 'yellow', cancelled: 'gray' };
const time = (iso: string | null): string => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) : '—');

/**
 * One campaign (/campaigns/:campaignId): the live bar (GET /api/campaigns/:id, polled each second
 * until the campaign is completed or cancelled), counts per status with the reasons, and each drop
 * (GET /api/campaigns/:id/drops: patient ids only, never a name or number). Admins pause, resume
 * or cancel.
 */
export function CampaignPage() {
  usePageTitle('Campaign');
  const { campaignId = '' } = useParams();
  const session = useOutletContext<Session>();
  const admin = activeRole(session) === 'admin';
  const client = useQueryClient();
  const poll = (state: string | undefined): number | false => (state === undefined || isSettled(state) || state === 'draft' ? false : POLL_MS);
  const progress = useQuery({ queryKey: ['campaign', campaignId], queryFn: ({ signal }) => fetchCampaign(campaignId, signal), retry: false, refetchInterval: (q) => poll(q.state.data?.campaign.state) });
  const state = progress.data?.campaign.state;
  // The drops are read again whenever the counts move (and once more as the campaign settles), not on a timer of their own.
  const moved = progress.data ? `${state}:${progress.data.done}:${progress.data.counts.sent}:${progress.data.counts.queued}` : '';
  const drops = useQuery({
    queryKey: ['campaign', campaignId, 'drops', moved],
    queryFn: ({ signal }) => fetchDrops(campaignId, signal),
    retry: false,
    enabled: progress.isSuccess,
    placeholderData: keepPreviousData,
  });
  const command = useMutation({
    mutationFn: (c: 'pause' | 'resume' | 'cancel') => commandCampaign(campaignId, c),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['campaign', campaignId] }),
  });

  if (progress.isPending) return <Loading label="Loading the campaign" />;
  if (progress.isError) return <ErrorState error={progress.error} title="Could not load the campaign" onRetry={() => void progress.refetch()} />;
  const p = progress.data;
  const bar = campaignBar(p);
  const reasons = Object.entries(p.reasons).filter(([key]) => !key.startsWith('delivered:') && !key.startsWith('sent:'));
  return (
    <Stack gap="md">
      <Text size="sm">
        <Link to="/campaigns">← Campaigns</Link>
      </Text>
      <Group justify="space-between" align="flex-start">
        <Title order={1} size="h2">
          {p.campaign.name}
        </Title>
        <StateBadge state={p.campaign.state} />
      </Group>
      {p.notices.map((n) => (
        <Alert key={n} color="yellow">
          {n}
        </Alert>
      ))}
      <section aria-labelledby="campaign-progress-heading">
        <Title order={2} size="h4" id="campaign-progress-heading" mb="xs">
          Progress
        </Title>
        <Progress.Root size="lg">
          <Progress.Section value={bar.value} animated={p.campaign.state === 'running'} aria-label="Campaign progress" />
        </Progress.Root>
        <Text size="sm" role="status" aria-live="polite" mt={4}>
          {bar.label}
          {p.campaign.state === 'completed' ? ' — the campaign is complete.' : ''}
        </Text>
        <ul className="plain-list" aria-label="Drops by status">
          {STATUS_ORDER.filter((s) => p.counts[s] > 0).map((s) => (
            <li key={s}>
              <Badge color={STATUS_COLOR[s]} variant="light">
                {s}
              </Badge>{' '}
              {p.counts[s]}
            </li>
          ))}
        </ul>
        {p.sms ? (
          <ul className="plain-list" aria-label="Text messages by delivery status">
            {(['delivered', 'undelivered', 'failed', 'sent', 'queued'] as const).map((s) => (
              <li key={s}>
                <Badge color={s === 'delivered' ? 'green' : s === 'sent' || s === 'queued' ? 'blue' : 'red'} variant="light">
                  {s}
                </Badge>{' '}
                {p.sms?.[s] ?? 0}
              </li>
            ))}
          </ul>
        ) : null}
        {p.nextSendAt ? (
          <Text size="sm" c="dimmed">
            Next drop {time(p.nextSendAt)}; the last one planned {time(p.lastSendAt)}.
          </Text>
        ) : null}
        {reasons.length > 0 ? (
          <>
            <Title order={3} size="h5" mt="sm">
              Why some got none
            </Title>
            <ul className="plain-list">
              {reasons.map(([key, n]) => {
                const [status = '', reason = ''] = key.split(':');
                return (
                  <li key={key}>
                    {status}: {reasonText(reason, p.campaign.channel)} — {n}
                  </li>
                );
              })}
            </ul>
          </>
        ) : null}
      </section>
      {admin && !isSettled(p.campaign.state) ? (
        <Group>
          {p.campaign.state === 'running' ? (
            <Button variant="default" loading={command.isPending && command.variables === 'pause'} onClick={() => command.mutate('pause')}>
              Pause
            </Button>
          ) : null}
          {p.campaign.state === 'paused' ? (
            <Button variant="default" loading={command.isPending && command.variables === 'resume'} onClick={() => command.mutate('resume')}>
              Resume
            </Button>
          ) : null}
          <Button variant="subtle" color="red" loading={command.isPending && command.variables === 'cancel'} onClick={() => command.mutate('cancel')}>
            Cancel the campaign
          </Button>
        </Group>
      ) : null}
      {command.isError ? <ErrorState error={command.error} title="Not done" /> : null}
      <section aria-labelledby="campaign-drops-heading">
        <Title order={2} size="h4" id="campaign-drops-heading" mb="xs">
          Drops
        </Title>
        <QueryTable
          query={drops}
          loading="Loading the drops"
          error="Could not load the drops"
          emptyText="No recipients yet."
          caption="Each drop's status"
          columns={dropColumns(progress.data?.campaign.channel)}
          rows={drops.data?.drops}
          rowKey={(d) => d.id}
          minWidth={560}
          striped={false}
        />
      </section>
    </Stack>
  );
}

/** The drops table's columns; the reasons worded for the campaign's channel. */
const dropColumns = (channel: Parameters<typeof reasonText>[1]): ReadonlyArray<Column<Drop>> => [
  {
    header: 'Patient',
    cell: (d) => (
      <Link to={`/patients/${d.patientId}`} className="mono" aria-label={`Patient ${d.patientId.slice(0, 8)}`}>
        {d.patientId.slice(0, 8)}
      </Link>
    ),
  },
  {
    header: 'Status',
    cell: (d) => (
      <Badge color={STATUS_COLOR[d.status]} variant="light">
        {d.status}
      </Badge>
    ),
  },
  { header: 'Why', cell: (d) => (d.reason && d.status !== 'delivered' && d.status !== 'sent' ? reasonText(d.reason, channel) : '—') },
  { header: 'Attempts', cell: (d) => d.attempts },
  { header: 'Sent', cell: (d) => time(d.sentAt) },
];
