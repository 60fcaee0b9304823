import '../practice-pages.css';
import { useState, type FormEvent } from 'react';
import { useOutletContext } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Card, Group, NativeSelect, Stack, Text, TextInput, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import { ApiError } from '../../api/errors';
import { pollingQueryFn } from '../../api/client';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { Empty, ErrorState, Loading } from '../../components/states';
import { addOverride, fetchNow, fetchPolicies, fetchProviders, fetchSchedules, fetchShifts, issueFeedToken, revokeFeedToken, type Policy, type Provider, type Schedule } from './api';
import { addDays, weekLayout, weekStart, type Shift, type WeekDay } from './week-layout';
import { SwapRequests } from './swaps';

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** On call: who is on call now, a week per schedule, overrides, escalation policies, providers' calendar links. */
export function OnCallPage() {
  usePageTitle('On call');
  const session = useOutletContext<Session>();
  const admin = activeRole(session) === 'admin';
  const practice = session.activePracticeId;
  const schedules = useQuery({ queryKey: ['oncall', practice, 'schedules'], queryFn: ({ signal }) => fetchSchedules(signal), retry: false });
  const providers = useQuery({ queryKey: ['oncall', practice, 'providers'], queryFn: ({ signal }) => fetchProviders(signal), retry: false });
  const [week, setWeek] = useState(() => weekStart(new Date()));
  const shifts = useWeekShifts(practice, week);

  return (
    <Stack gap="lg">
      <Title order={1} size="h2">
        On call
      </Title>
      <NowPanel practice={practice} />
      <section aria-labelledby="week-heading">
        <Group justify="space-between" mb="xs">
          <Title order={2} size="h3" id="week-heading">
            Week of {week.toLocaleDateString(undefined, { day: 'numeric', month: 'long', year: 'numeric' })}
          </Title>
          <Group gap="xs">
            <Button variant="default" size="xs" onClick={() => setWeek(addDays(week, -7))}>
              Previous week
            </Button>
            <Button variant="default" size="xs" onClick={() => setWeek(weekStart(new Date()))}>
              This week
            </Button>
            <Button variant="default" size="xs" onClick={() => setWeek(addDays(week, 7))}>
              Next week
            </Button>
          </Group>
        </Group>
        {schedules.isPending ? <Loading label="Loading schedules" /> : null}
        {schedules.isError ? <ErrorState error={schedules.error} title="Could not load the schedules" onRetry={() => void schedules.refetch()} /> : null}
        {schedules.data?.schedules.length === 0 ? <Empty>No schedule yet.</Empty> : null}
        {schedules.data ? <WeekCalendars schedules={schedules.data.schedules} week={week} shifts={shifts} /> : null}
      </section>
      {admin && schedules.data && providers.data ? <OverrideForm practice={practice} schedules={schedules.data.schedules} providers={providers.data.providers.filter((p) => p.active)} /> : null}
      {schedules.data && providers.data ? <SwapRequests practice={practice} schedules={schedules.data.schedules} providers={providers.data.providers} /> : null}
      <PoliciesPanel practice={practice} schedules={schedules.data?.schedules ?? []} providers={providers.data?.providers ?? []} />
      <section aria-labelledby="providers-heading">
        <Title order={2} size="h3" id="providers-heading" mb="xs">
          Providers and their calendar links
        </Title>
        {providers.isPending ? <Loading label="Loading providers" /> : null}
        {providers.isError ? <ErrorState error={providers.error} title="Could not load the providers" onRetry={() => void providers.refetch()} /> : null}
        {providers.data?.providers.length === 0 ? <Empty>No providers yet.</Empty> : null}
        <Stack gap="xs">
          {providers.data?.providers.map((p) => <ProviderRow key={p.id} provider={p} admin={admin} practice={practice} />)}
        </Stack>
      </section>
    </Stack>
  );
}

function NowPanel({ practice }: { practice: string | null }) {
  const now = useQuery({ queryKey: ['oncall', practice, 'now'], queryFn: pollingQueryFn((signal) => fetchNow(signal)), retry: false, refetchInterval: 60_000 });
  return (
    <section aria-labelledby="now-heading">
      <Title order={2} size="h3" id="now-heading" mb="xs">
        On call now
      </Title>
      {now.isPending ? <Loading label="Finding who is on call" /> : null}
      {now.isError ? <ErrorState error={now.error} title="Could not find who is on call" onRetry={() => void now.refetch()} /> : null}
      {now.data?.onCall.length === 0 ? <Empty>No schedule yet: urgent calls ring the practice's fallback number.</Empty> : null}
      <div className="card-row">
        {now.data?.onCall.map((o) => (
          <Card key={o.scheduleId} withBorder padding="sm" className="now-card">
            <Text size="sm" c="dimmed">
              {o.name}
            </Text>
            <Text fw={700}>{o.providerName ?? (o.layer === 'none' ? 'Nobody' : 'Unknown provider')}</Text>
            {o.layer === 'override' ? (
              <Badge color="orange" variant="light" size="sm">
                override
              </Badge>
            ) : null}
            {o.shiftEnd ? <Text size="sm">until {when(o.shiftEnd)}</Text> : null}
          </Card>
        ))}
      </div>
    </section>
  );
}

/**
 * Every schedule's week in one request (GET /api/oncall/shifts without a schedule), asked for
 * alongside the schedules rather than after them, one request per schedule: no waterfall.
 */
function useWeekShifts(practice: string | null, week: Date) {
  return useQuery({ queryKey: ['oncall', practice, 'shifts', week.toISOString()], queryFn: ({ signal }) => fetchShifts(null, week, addDays(week, 7), signal), retry: false });
}

function WeekCalendars({ schedules, week, shifts }: { schedules: Schedule[]; week: Date; shifts: ReturnType<typeof useWeekShifts> }) {
  const bySchedule = new Map<string, Shift[]>(schedules.map((s) => [s.id, []]));
  for (const shift of shifts.data?.shifts ?? []) bySchedule.get(shift.scheduleId)?.push(shift);
  return (
    <Stack gap="md">
      {shifts.isPending ? <Loading label="Loading the week" /> : null}
      {shifts.isError ? <ErrorState error={shifts.error} title="Could not load the week" onRetry={() => void shifts.refetch()} /> : null}
      {schedules.map((s) => (
        <div key={s.id}>
          <Title order={3} size="h4" mb={4}>
            {s.name}
          </Title>
          {shifts.data ? <WeekGrid days={weekLayout(bySchedule.get(s.id) ?? [], week)} label={s.name} /> : null}
        </div>
      ))}
    </Stack>
  );
}

/** Seven columns (one under the other on a phone); each day lists its shifts and draws them on a bar of the day. */
export function WeekGrid({ days, label }: { days: WeekDay[]; label: string }) {
  const today = new Date().toDateString();
  return (
    <ol className="week-grid" aria-label={`${label}: the week`}>
      {days.map((d) => (
        <li key={d.date.toISOString()} className="week-day" data-today={d.date.toDateString() === today ? 'true' : 'false'}>
          <div className="week-day-name">{d.date.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' })}</div>
          {d.segments.length === 0 ? (
            <div className="week-empty">Nobody</div>
          ) : (
            <ul className="plain-list">
              {d.segments.map((seg, i) => (
                <li key={i} className="week-shift" data-layer={seg.shift.layer}>
                  <span className="week-bar" aria-hidden="true">
                    <span className="week-bar-fill" style={{ left: `${seg.from * 100}%`, width: `${Math.max(2, (seg.to - seg.from) * 100)}%` }} />
                  </span>
                  <span className="mono">
                    {seg.startLabel}–{seg.endLabel}
                  </span>{' '}
                  {seg.shift.providerName ?? 'Unknown'}
                  {seg.shift.layer === 'override' ? <span className="week-override"> (override)</span> : null}
                </li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  );
}

/** `datetime-local` value (local wall time) → ISO 8601 with offset, as the API takes it. */
export function localInputToIso(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function OverrideForm({ practice, schedules, providers }: { practice: string | null; schedules: Schedule[]; providers: Provider[] }) {
  const client = useQueryClient();
  const [draft, setDraft] = useState({ scheduleId: schedules[0]?.id ?? '', providerId: providers[0]?.id ?? '', start: '', end: '' });
  const add = useMutation({
    mutationFn: () => addOverride(draft.scheduleId, { providerId: draft.providerId, start: localInputToIso(draft.start) ?? draft.start, end: localInputToIso(draft.end) ?? draft.end }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['oncall', practice] }),
  });
  if (schedules.length === 0 || providers.length === 0) return null;
  const set = (key: keyof typeof draft) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    add.mutate();
  };
  const problem = (f: string): string | undefined => (add.error instanceof ApiError ? add.error.fieldProblem(f) : undefined);
  return (
    <section aria-labelledby="override-heading">
      <Title order={2} size="h3" id="override-heading" mb="xs">
        Add an override
      </Title>
      <form onSubmit={submit} aria-label="Add an override" className="filters">
        <NativeSelect label="Schedule" value={draft.scheduleId} onChange={set('scheduleId')} data={schedules.map((s) => ({ value: s.id, label: s.name }))} />
        <NativeSelect label="Provider" value={draft.providerId} onChange={set('providerId')} data={providers.map((p) => ({ value: p.id, label: p.displayName }))} />
        <TextInput label="From" type="datetime-local" required value={draft.start} onChange={set('start')} error={problem('start')} />
        <TextInput label="Until" type="datetime-local" required value={draft.end} onChange={set('end')} error={problem('end')} />
        <div className="filters-actions">
          <Button type="submit" loading={add.isPending}>
            Add override
          </Button>
        </div>
      </form>
      {add.isError ? <ErrorState error={add.error} title="The override was not added" /> : null}
      {add.isSuccess ? (
        <Alert color="green" mt="xs" role="status" title="Override added">
          {add.data.resolution?.message ?? 'It replaces the rotation for that time.'}
        </Alert>
      ) : null}
    </section>
  );
}

function PoliciesPanel({ practice, schedules, providers }: { practice: string | null; schedules: Schedule[]; providers: Provider[] }) {
  const policies = useQuery({ queryKey: ['oncall', practice, 'policies'], queryFn: ({ signal }) => fetchPolicies(signal), retry: false });
  const scheduleName = new Map(schedules.map((s) => [s.id, s.name]));
  const providerName = new Map(providers.map((p) => [p.id, p.displayName]));
  const target = (t: Policy['tiers'][number]['target']): string => (t.kind === 'schedule' ? `whoever is on call on ${scheduleName.get(t.scheduleId) ?? 'a schedule'}` : (providerName.get(t.providerId) ?? 'a provider'));
  return (
    <section aria-labelledby="policies-heading">
      <Title order={2} size="h3" id="policies-heading" mb="xs">
        Escalation policies
      </Title>
      {policies.isPending ? <Loading label="Loading policies" /> : null}
      {policies.isError ? <ErrorState error={policies.error} title="Could not load the policies" onRetry={() => void policies.refetch()} /> : null}
      {policies.data?.policies.length === 0 ? <Empty>No policy: urgent calls ring the practice's fallback number.</Empty> : null}
      <Stack gap="xs">
        {policies.data?.policies.map((p) => (
          <Card key={p.id} withBorder padding="sm">
            <Group gap="xs">
              <Text fw={700}>{p.name}</Text>
              {p.isDefault ? <Badge size="sm">default</Badge> : null}
            </Group>
            <ol className="tier-list">
              {p.tiers.map((t, i) => (
                <li key={i}>
                  Ring {target(t.target)} for {t.ringSeconds} s
                </li>
              ))}
            </ol>
            <Text size="sm" c="dimmed">
              The chain is tried {p.repeat + 1} {p.repeat === 0 ? 'time' : 'times'}; pages every {p.pageIntervalMinutes} min, up to {p.pageMaxRepeats} more.
            </Text>
          </Card>
        ))}
      </Stack>
    </section>
  );
}

function ProviderRow({ provider, admin, practice }: { provider: Provider; admin: boolean; practice: string | null }) {
  const client = useQueryClient();
  const issue = useMutation({ mutationFn: () => issueFeedToken(provider.id), onSuccess: () => void client.invalidateQueries({ queryKey: ['oncall', practice, 'providers'] }) });
  const revoke = useMutation({
    mutationFn: () => revokeFeedToken(provider.id),
    onSuccess: () => {
      issue.reset();
      void client.invalidateQueries({ queryKey: ['oncall', practice, 'providers'] });
    },
  });
  return (
    <Card withBorder padding="sm">
      <Group justify="space-between" wrap="wrap">
        <div>
          <Text fw={600}>
            {provider.displayName}
            {!provider.active ? ' (inactive)' : ''}
          </Text>
          <Text size="sm" c="dimmed">
            {provider.feedTokenIssuedAt ? `Calendar link issued ${when(provider.feedTokenIssuedAt)}` : 'No calendar link'}
          </Text>
        </div>
        {admin ? (
          <Group gap="xs">
            <Button size="xs" variant="default" onClick={() => issue.mutate()} loading={issue.isPending}>
              {provider.feedTokenIssuedAt ? 'Issue a new link' : 'Issue a calendar link'}
            </Button>
            {provider.feedTokenIssuedAt ? (
              <Button size="xs" variant="subtle" color="red" onClick={() => revoke.mutate()} loading={revoke.isPending}>
                Revoke link
              </Button>
            ) : null}
          </Group>
        ) : null}
      </Group>
      {issue.data ? (
        <Stack gap={4} mt="xs">
          <TextInput label={`Calendar link for ${provider.displayName} (shown once: copy it into the calendar app)`} readOnly value={issue.data.url} onFocus={(e) => e.currentTarget.select()} />
        </Stack>
      ) : null}
      {issue.isError ? <ErrorState error={issue.error} title="Could not issue the link" /> : null}
      {revoke.isError ? <ErrorState error={revoke.error} title="Could not revoke the link" /> : null}
    </Card>
  );
}
