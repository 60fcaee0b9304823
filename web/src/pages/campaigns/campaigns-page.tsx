import '../practice-pages.css';
import { Link, Route, Routes, useOutletContext } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Badge, Button, Group, Progress, Stack, Text, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { QueryTable, type Column } from '../../components/data-table';
import { campaignBar, fetchCampaigns, isSettled, type ListedCampaign } from './api';
import { CampaignPage } from './campaign-detail';
import { CampaignWizard } from './wizard';

/** How often the list asks again while a campaign on it is still running. */
const LIST_POLL_MS = 5_000;

/** /campaigns (the list), /campaigns/new (the wizard), /campaigns/:campaignId (its progress; the id only). */
export function CampaignsSection() {
  return (
    <Routes>
      <Route index element={<CampaignList />} />
      <Route path="new" element={<CampaignWizard />} />
      <Route path=":campaignId" element={<CampaignPage />} />
    </Routes>
  );
}

/** A campaign's state as a badge: the word is always there, the colour only repeats it. */
export function StateBadge({ state }: { state: string }) {
  const color = state === 'running' ? 'blue' : state === 'completed' ? 'green' : state === 'cancelled' ? 'gray' : state === 'paused' ? 'yellow' : 'violet';
  return (
    <Badge color={color} variant="light">
      {state}
    </Badge>
  );
}

/** The practice's campaigns, newest first, each with its state and how far its drops got. */
function CampaignList() {
  usePageTitle('Campaigns');
  const session = useOutletContext<Session>();
  const admin = activeRole(session) === 'admin';
  const list = useQuery({
    queryKey: ['campaigns', session.activePracticeId],
    queryFn: ({ signal }) => fetchCampaigns(signal),
    retry: false,
    refetchInterval: (q) => (q.state.data?.campaigns.some((c) => !isSettled(c.state) && c.state !== 'draft') ? LIST_POLL_MS : false),
  });
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Campaigns
        </Title>
        {admin ? (
          <Button component={Link} to="/campaigns/new">
            New campaign
          </Button>
        ) : null}
      </Group>
      <Text size="sm">Ringless voicemail to patients who agreed to receive it: the message names the practice and its number, never a condition or a date.</Text>
      <QueryTable
        query={list}
        loading="Loading campaigns"
        error="Could not load the campaigns"
        emptyText="No campaigns yet."
        caption="Campaigns"
        columns={CAMPAIGN_COLUMNS}
        rows={list.data?.campaigns}
        rowKey={(c) => c.id}
        minWidth={640}
        striped={false}
      />
    </Stack>
  );
}

const CAMPAIGN_COLUMNS: ReadonlyArray<Column<ListedCampaign>> = [
  { header: 'Name', cell: (c) => <Link to={`/campaigns/${c.id}`}>{c.name}</Link> },
  { header: 'State', cell: (c) => <StateBadge state={c.state} /> },
  { header: 'Channel', cell: (c) => <ChannelBadge channel={c.channel} /> },
  { header: 'Progress', cell: (c) => <CampaignProgress campaign={c} /> },
  { header: 'Through', cell: (c) => (c.provider === 'twilio' ? 'Twilio' : 'Voicemail vendor') },
  { header: 'Created', cell: (c) => new Date(c.createdAt).toLocaleDateString(undefined, { dateStyle: 'medium' }) },
];

/** What a campaign sends, in words (never a colour alone): ringless voicemail or SMS. */
const CHANNEL_LABELS: Record<ListedCampaign['channel'], string> = { rvm: 'Voicemail', sms: 'SMS' };
export function ChannelBadge({ channel }: { channel: ListedCampaign['channel'] }) {
  return (
    <Badge variant="default">
      {CHANNEL_LABELS[channel]}
    </Badge>
  );
}

/** How far a campaign's drops got: the bar (named for the campaign) and the counts in words. */
function CampaignProgress({ campaign }: { campaign: ListedCampaign }) {
  const bar = campaignBar(campaign);
  return (
    <>
      <Progress value={bar.value} size="sm" aria-label={`Progress of ${campaign.name}`} />
      <Text size="xs" c="dimmed">
        {bar.label}
      </Text>
    </>
  );
}
