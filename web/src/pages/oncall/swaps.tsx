import { useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Card, Group, NativeSelect, Stack, Text, TextInput, Title } from '@mantine/core';
import { api } from '../../api/client';
import type * as Generated from '../../api/generated';
import { ApiError } from '../../api/errors';
import { Empty, ErrorState, Loading } from '../../components/states';
import type { Provider, Schedule } from './api';

/** Swap requests (src/http/swap-routes.ts): ids, instants and states; who may act is the server's decision. */
export type Swap = Generated.Swap;

type SwapAction = 'accept' | 'decline' | 'cancel';

const fetchSwaps = (scheduleId: string, signal?: AbortSignal): Promise<{ swaps: Swap[] }> => api(`/api/oncall/schedules/${encodeURIComponent(scheduleId)}/swaps`, { signal });
const requestSwap = (scheduleId: string, body: { fromProviderId: string; toProviderId: string; start: string; end: string }): Promise<Swap> =>
  api(`/api/oncall/schedules/${encodeURIComponent(scheduleId)}/swaps`, { method: 'POST', body });
const actOnSwap = (id: string, action: SwapAction): Promise<{ swap: Swap }> => api(`/api/oncall/swaps/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: {} });

const STATE_COLOUR: Record<Swap['state'], string> = { pending: 'blue', accepted: 'green', declined: 'gray', cancelled: 'gray' };
const ACTION_LABEL: Record<SwapAction, string> = { accept: 'Accept', decline: 'Decline', cancel: 'Cancel' };

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** `datetime-local` value (local wall time) → ISO 8601, as the API takes it; anything else is sent as typed (the server names it). */
function localToIso(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return value;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}

/** The On call page's "Swap requests": a schedule's swaps with accept, decline and cancel, and a form to ask for one. */
export function SwapRequests({ practice, schedules, providers }: { practice: string | null; schedules: Schedule[]; providers: Provider[] }) {
  // The SMS to the provider asked links here with ?schedule=<id> (ids only): that schedule first.
  const [params] = useSearchParams();
  const [scheduleId, setScheduleId] = useState(params.get('schedule') ?? schedules[0]?.id ?? '');
  const active = providers.filter((p) => p.active);
  const names = new Map(providers.map((p) => [p.id, p.displayName]));
  if (schedules.length === 0) return null;
  const current = schedules.some((s) => s.id === scheduleId) ? scheduleId : (schedules[0]?.id ?? '');
  return (
    <section aria-labelledby="swaps-heading">
      <Title order={2} size="h3" id="swaps-heading" mb="xs">
        Swap requests
      </Title>
      <Stack gap="sm">
        <NativeSelect label="Swap schedule" value={current} onChange={(e) => setScheduleId(e.currentTarget.value)} data={schedules.map((s) => ({ value: s.id, label: s.name }))} maw={360} />
        <SwapList practice={practice} scheduleId={current} names={names} />
        {active.length >= 2 ? <SwapForm practice={practice} scheduleId={current} providers={active} /> : <Text size="sm">A swap needs two active providers.</Text>}
      </Stack>
    </section>
  );
}

function SwapList({ practice, scheduleId, names }: { practice: string | null; scheduleId: string; names: Map<string, string> }) {
  const swaps = useQuery({ queryKey: ['oncall', practice, 'swaps', scheduleId], queryFn: ({ signal }) => fetchSwaps(scheduleId, signal), retry: false });
  if (swaps.isPending) return <Loading label="Loading swap requests" />;
  if (swaps.isError) return <ErrorState error={swaps.error} title="Could not load the swap requests" onRetry={() => void swaps.refetch()} />;
  if (swaps.data.swaps.length === 0) return <Empty>No swap requests on this schedule.</Empty>;
  return (
    <ul className="plain-list" aria-label="Swap requests">
      {swaps.data.swaps.map((s) => (
        <li key={s.id}>
          <SwapRow practice={practice} swap={s} names={names} />
        </li>
      ))}
    </ul>
  );
}

function SwapRow({ practice, swap, names }: { practice: string | null; swap: Swap; names: Map<string, string> }) {
  const client = useQueryClient();
  const act = useMutation({
    mutationFn: (action: SwapAction) => actOnSwap(swap.id, action),
    // Who is on call, the week and the list all change with an accepted swap.
    onSettled: () => void client.invalidateQueries({ queryKey: ['oncall', practice] }),
  });
  const from = names.get(swap.fromProviderId) ?? 'A provider';
  const to = names.get(swap.toProviderId) ?? 'another provider';
  return (
    <Card withBorder padding="sm" mb="xs">
      <Group justify="space-between" wrap="wrap" gap="xs">
        <div>
          <Text fw={600}>
            {from} to {to}
          </Text>
          <Text size="sm">
            {when(swap.start)} – {when(swap.end)}
          </Text>
        </div>
        <Badge color={STATE_COLOUR[swap.state]} variant="light">
          {swap.state}
        </Badge>
      </Group>
      {swap.state === 'pending' ? (
        <Group gap="xs" mt="xs" wrap="wrap">
          {(['accept', 'decline', 'cancel'] as const).map((action) => (
            <Button
              key={action}
              size="xs"
              variant={action === 'accept' ? 'filled' : 'default'}
              onClick={() => act.mutate(action)}
              loading={act.isPending && act.variables === action}
              disabled={act.isPending}
              aria-label={`${ACTION_LABEL[action]} the swap from ${from} to ${to}, ${when(swap.start)}`}
            >
              {ACTION_LABEL[action]}
            </Button>
          ))}
        </Group>
      ) : null}
      {act.isError ? <ErrorState error={act.error} title={act.error instanceof ApiError && act.error.status === 409 ? 'Already decided' : 'Not done'} /> : null}
    </Card>
  );
}

function SwapForm({ practice, scheduleId, providers }: { practice: string | null; scheduleId: string; providers: Provider[] }) {
  const client = useQueryClient();
  const [draft, setDraft] = useState({ fromProviderId: providers[0]?.id ?? '', toProviderId: providers[1]?.id ?? '', start: '', end: '' });
  const ask = useMutation({
    mutationFn: () => requestSwap(scheduleId, { fromProviderId: draft.fromProviderId, toProviderId: draft.toProviderId, start: localToIso(draft.start), end: localToIso(draft.end) }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['oncall', practice, 'swaps', scheduleId] }),
  });
  const set = (key: keyof typeof draft) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    ask.mutate();
  };
  const problem = (f: string): string | undefined => (ask.error instanceof ApiError ? ask.error.fieldProblem(f) : undefined);
  const options = providers.map((p) => ({ value: p.id, label: p.displayName }));
  return (
    <div>
      <Title order={3} size="h4" mb={4} id="swap-form-heading">
        Request a swap
      </Title>
      <form onSubmit={submit} aria-labelledby="swap-form-heading" className="filters">
        <NativeSelect label="Hand from" value={draft.fromProviderId} onChange={set('fromProviderId')} data={options} error={problem('fromProviderId')} />
        <NativeSelect label="Hand to" value={draft.toProviderId} onChange={set('toProviderId')} data={options} error={problem('toProviderId')} />
        <TextInput label="Swap starts" type="datetime-local" required value={draft.start} onChange={set('start')} error={problem('start')} />
        <TextInput label="Swap ends" type="datetime-local" required value={draft.end} onChange={set('end')} error={problem('end')} />
        <div className="filters-actions">
          <Button type="submit" loading={ask.isPending}>
            Request swap
          </Button>
        </div>
      </form>
      {ask.isError ? <ErrorState error={ask.error} title="The swap was not requested" /> : null}
      {ask.isSuccess ? (
        <Alert color="green" mt="xs" role="status" title="Swap requested">
          The provider asked is told; it waits for them to accept.
        </Alert>
      ) : null}
    </div>
  );
}
