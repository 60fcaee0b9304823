import '../practice-pages.css';
import { Link, Route, Routes, useOutletContext } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Badge, Button, Group, Progress, Stack, Table, Text, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { Empty, ErrorState, Loading } from '../../components/states';
import { campaignBar, fetchCampaigns, isSettled } from './api';
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
      {list.isPending ? <Loading label="Loading campaigns" /> : null}
      {list.isError ? <ErrorState error={list.error} title="Could not load the campaigns" onRetry={() => void list.refetch()} /> : null}
      {list.data?.campaigns.length === 0 ? <Empty>No campaigns yet.</Empty> : null}
      {list.data && list.data.campaigns.length > 0 ? (
        <Table.ScrollContainer minWidth={640}>
          <Table captionSide="top">
            <Table.Caption className="visually-hidden">Campaigns</Table.Caption>
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Name</Table.Th>
                <Table.Th scope="col">State</Table.Th>
                <Table.Th scope="col">Progress</Table.Th>
                <Table.Th scope="col">Through</Table.Th>
                <Table.Th scope="col">Created</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.data.campaigns.map((c) => {
                const bar = campaignBar(c);
                return (
                  <Table.Tr key={c.id}>
                    <Table.Td>
                      <Link to={`/campaigns/${c.id}`}>{c.name}</Link>
                    </Table.Td>
                    <Table.Td>
                      <StateBadge state={c.state} />
                    </Table.Td>
                    <Table.Td>
                      <Progress value={bar.value} size="sm" aria-label={`Progress of ${c.name}`} />
                      <Text size="xs" c="dimmed">
                        {bar.label}
                      </Text>
                    </Table.Td>
                    <Table.Td>{c.provider === 'twilio' ? 'Twilio' : 'Voicemail vendor'}</Table.Td>
                    <Table.Td>{new Date(c.createdAt).toLocaleDateString(undefined, { dateStyle: 'medium' })}</Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
    </Stack>
  );
}
