import { useState, type FormEvent } from 'react';
import { useOutletContext, useSearchParams } from 'react-router';
import { useInfiniteQuery } from '@tanstack/react-query';
import { Badge, Button, Group, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { api } from '../api/client';
import { activeRole } from '../api/session';
import { CALL_OUTCOMES, type CallPage, type ListedCall, type Session } from '../api/types';
import { usePageTitle } from '../components/page-title';
import { Empty, ErrorState, Loading } from '../components/states';

const OUTCOME_LABELS: Record<(typeof CALL_OUTCOMES)[number], string> = {
  handed_to_provider: 'Handed to provider',
  urgent_voicemail: 'Urgent voicemail',
  message: 'Message',
  transferred: 'Transferred',
  abandoned_at_menu: 'Hung up at menu',
  fail_safe: 'Fail-safe',
  completed_other: 'Other',
};

const MATCH_LABELS: Record<ListedCall['patient']['match'], string> = { verified: 'Verified', number: 'By number', unknown: 'Unknown' };

/** The filters live in the URL (dates and codes only, never PHI), so a filtered list can be bookmarked and shared. */
const FILTERS = ['from', 'to', 'outcome', 'urgency'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

function filtersOf(params: URLSearchParams): Filters {
  const filters: Filters = {};
  for (const key of FILTERS) {
    const value = params.get(key);
    if (value !== null && value !== '') filters[key] = value;
  }
  return filters;
}

export function fetchCalls(filters: Filters, cursor: string | null, signal?: AbortSignal): Promise<CallPage> {
  return api<CallPage>('/api/calls', { query: { ...filters, cursor, limit: 50 }, signal });
}

/** The call log (GET /api/calls): newest first, filtered, 50 at a time. An auditor sees numbers masked (the API masks them). */
export function CallsPage() {
  usePageTitle('Calls');
  const session = useOutletContext<Session>();
  const [params, setParams] = useSearchParams();
  const filters = filtersOf(params);
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
      <CallFilters
        initial={filters}
        onApply={(next) => {
          const search = new URLSearchParams();
          for (const [key, value] of Object.entries(next)) if (value) search.set(key, value);
          setParams(search);
        }}
      />
      {masked ? (
        <Text size="sm" c="dimmed">
          Callers' numbers are masked for auditors.
        </Text>
      ) : null}
      {calls.isPending ? <Loading label="Loading calls" /> : null}
      {calls.isError ? <ErrorState error={calls.error} title="Could not load the calls" onRetry={() => void calls.refetch()} /> : null}
      {calls.isSuccess && rows.length === 0 ? <Empty>No calls match these filters.</Empty> : null}
      {rows.length > 0 ? <CallTable rows={rows} /> : null}
      {calls.hasNextPage ? (
        <Group justify="center">
          <Button variant="default" onClick={() => void calls.fetchNextPage()} loading={calls.isFetchingNextPage}>
            Load more
          </Button>
        </Group>
      ) : null}
    </Stack>
  );
}

function CallFilters({ initial, onApply }: { initial: Filters; onApply: (filters: Filters) => void }) {
  const [draft, setDraft] = useState<Filters>(initial);
  const set = (key: keyof Filters) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    onApply(draft);
  };
  return (
    <form onSubmit={submit} aria-label="Filter calls" className="filters">
      <TextInput label="From" type="date" value={draft.from ?? ''} onChange={set('from')} />
      <TextInput label="To" type="date" value={draft.to ?? ''} onChange={set('to')} />
      <NativeSelect label="Outcome" value={draft.outcome ?? ''} onChange={set('outcome')} data={[{ value: '', label: 'Any' }, ...CALL_OUTCOMES.map((o) => ({ value: o, label: OUTCOME_LABELS[o] }))]} />
      <NativeSelect
        label="Urgency"
        value={draft.urgency ?? ''}
        onChange={set('urgency')}
        data={[
          { value: '', label: 'Any' },
          { value: 'urgent', label: 'Urgent' },
          { value: 'routine', label: 'Routine' },
        ]}
      />
      <div className="filters-actions">
        <Button type="submit">Apply</Button>
        <Button
          variant="subtle"
          onClick={() => {
            setDraft({});
            onApply({});
          }}
        >
          Clear
        </Button>
      </div>
    </form>
  );
}

function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${s} s` : `${s} s`;
}

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function CallTable({ rows }: { rows: ListedCall[] }) {
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table striped highlightOnHover captionSide="top">
        <Table.Caption className="visually-hidden">Calls, newest first</Table.Caption>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Started</Table.Th>
            <Table.Th scope="col">Caller</Table.Th>
            <Table.Th scope="col">Patient</Table.Th>
            <Table.Th scope="col">Menu path</Table.Th>
            <Table.Th scope="col">Outcome</Table.Th>
            <Table.Th scope="col">Length</Table.Th>
            <Table.Th scope="col">Voicemails</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((c) => (
            <Table.Tr key={c.callSid}>
              <Table.Td>{when(c.startedAt)}</Table.Td>
              <Table.Td className="mono">{c.callerNumber ?? 'Withheld'}</Table.Td>
              <Table.Td>{MATCH_LABELS[c.patient.match]}</Table.Td>
              <Table.Td>{c.path.length > 0 ? c.path.join(' → ') : '—'}</Table.Td>
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  {c.outcome ? OUTCOME_LABELS[c.outcome] : c.endedAt === null ? 'In progress' : '—'}
                  {c.urgency === 'urgent' ? (
                    <Badge color="red" size="xs">
                      urgent
                    </Badge>
                  ) : null}
                </Group>
              </Table.Td>
              <Table.Td>{duration(c.durationSeconds)}</Table.Td>
              <Table.Td>{c.voicemailIds.length}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
