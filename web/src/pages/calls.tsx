import { Link, useOutletContext } from 'react-router';
import { useInfiniteQuery } from '@tanstack/react-query';
import { Anchor, Badge, Group, Stack, Text, Title } from '@mantine/core';
import { api } from '../api/client';
import { activeRole } from '../api/session';
import { CALL_OUTCOMES, type CallPage, type ListedCall, type Session } from '../api/types';
import { usePageTitle } from '../components/page-title';
import { QueryState } from '../components/states';
import { DataTable, LoadMore, type Column } from '../components/data-table';
import { FilterForm, type FilterField } from '../components/filter-form';
import { useUrlFilters, type Filters } from '../components/url-filters';
import { PhoneNumber } from '../components/phone-number';
import { duration, when } from '../components/format';

export const OUTCOME_LABELS: Record<(typeof CALL_OUTCOMES)[number], string> = {
  handed_to_provider: 'Handed to provider',
  urgent_voicemail: 'Urgent voicemail',
  message: 'Message',
  transferred: 'Transferred',
  abandoned_at_menu: 'Hung up at menu',
  fail_safe: 'Fail-safe',
  completed_other: 'Other',
};

export const MATCH_LABELS: Record<ListedCall['patient']['match'], string> = { verified: 'Verified', number: 'By number', unknown: 'Unknown' };

/** The filters live in the URL (dates and codes only, never PHI), so a filtered list can be bookmarked and shared. */
const FILTERS = ['from', 'to', 'outcome', 'urgency'] as const;
type CallFilters = Filters<(typeof FILTERS)[number]>;

const FIELDS: ReadonlyArray<FilterField<(typeof FILTERS)[number]>> = [
  { key: 'from', label: 'From', kind: 'date' },
  { key: 'to', label: 'To', kind: 'date' },
  { key: 'outcome', label: 'Outcome', kind: 'select', options: CALL_OUTCOMES.map((o) => ({ value: o, label: OUTCOME_LABELS[o] })) },
  {
    key: 'urgency',
    label: 'Urgency',
    kind: 'select',
    options: [
      { value: 'urgent', label: 'Urgent' },
      { value: 'routine', label: 'Routine' },
    ],
  },
];

export function fetchCalls(filters: CallFilters, cursor: string | null, signal?: AbortSignal): Promise<CallPage> {
  return api<CallPage>('/api/calls', { query: { ...filters, cursor, limit: 50 }, signal });
}

/** The call log (GET /api/calls): newest first, filtered, 50 at a time. An auditor sees numbers masked (the API masks them). */
export function CallsPage() {
  usePageTitle('Calls');
  const session = useOutletContext<Session>();
  const [filters, apply] = useUrlFilters(FILTERS);
  const calls = useInfiniteQuery({
    queryKey: ['calls', session.activePracticeId, filters],
    queryFn: ({ pageParam, signal }) => fetchCalls(filters, pageParam, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
    retry: false,
  });
  const rows = calls.data?.pages.flatMap((p) => p.calls) ?? [];
  const masked = activeRole(session) === 'auditor';

  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Calls
      </Title>
      <FilterForm key={JSON.stringify(filters)} label="Filter calls" fields={FIELDS} initial={filters} onApply={apply} />
      {masked ? (
        <Text size="sm" c="dimmed">
          Callers' numbers are masked for auditors.
        </Text>
      ) : null}
      <QueryState query={calls} loading="Loading calls" error="Could not load the calls" empty={rows.length === 0} emptyText="No calls match these filters." />
      {rows.length > 0 ? <DataTable caption="Calls, newest first" columns={COLUMNS} rows={rows} rowKey={(c) => c.callSid} minWidth={820} /> : null}
      <LoadMore hasMore={calls.hasNextPage} loading={calls.isFetchingNextPage} onMore={() => void calls.fetchNextPage()} />
    </Stack>
  );
}

export function outcomeText(c: Pick<ListedCall, 'outcome' | 'endedAt'>): string {
  return c.outcome ? OUTCOME_LABELS[c.outcome] : c.endedAt === null ? 'In progress' : '—';
}

const COLUMNS: ReadonlyArray<Column<ListedCall>> = [
  { header: 'Started', cell: (c) => when(c.startedAt) },
  { header: 'Caller', cell: (c) => <PhoneNumber number={c.callerNumber} /> },
  { header: 'Patient', cell: (c) => MATCH_LABELS[c.patient.match] },
  { header: 'Menu path', cell: (c) => (c.path.length > 0 ? c.path.join(' → ') : '—') },
  {
    header: 'Outcome',
    cell: (c) => (
      <Group gap={4} wrap="nowrap">
        {outcomeText(c)}
        {c.urgency === 'urgent' ? (
          <Badge color="red" size="xs">
            urgent
          </Badge>
        ) : null}
      </Group>
    ),
  },
  { header: 'Length', cell: (c) => duration(c.durationSeconds) },
  { header: 'Voicemails', cell: (c) => c.voicemailIds.length },
  {
    header: 'Call',
    cell: (c) => (
      // The call's SID is an id (no PHI): its page's address.
      <Anchor component={Link} to={`/calls/${c.callSid}`} aria-label={`Timeline of the call at ${when(c.startedAt)}`}>
        Timeline
      </Anchor>
    ),
  },
];
