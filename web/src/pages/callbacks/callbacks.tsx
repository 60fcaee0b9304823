import { useState } from 'react';
import { Link, useOutletContext, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Anchor, Badge, Button, Group, NativeSelect, Paper, Stack, Text, Textarea, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { describeError } from '../../api/errors';
import { usePageTitle } from '../../components/page-title';
import { ErrorState, Loading, QueryState } from '../../components/states';
import { DataTable, type Column } from '../../components/data-table';
import { FilterForm, type FilterField } from '../../components/filter-form';
import { useUrlFilters } from '../../components/url-filters';
import { PhoneNumber } from '../../components/phone-number';
import { fetchUsers } from '../settings/api';
import {
  ATTEMPT_LABELS,
  ATTEMPT_OUTCOMES,
  CLOSE_OUTCOMES,
  MATCH_LABELS,
  REASON_LABELS,
  STATUS_LABELS,
  TASK_REASONS,
  TASK_STATUSES,
  TASK_FILTERS,
  addAttempt,
  assignTask,
  claimTask,
  closeTask,
  fetchTask,
  fetchTasks,
  queueOrder,
  when,
  type AttemptOutcome,
  type CloseOutcome,
  type TaskSummary,
} from './api';
import { CallBackButton } from './call-back-button';

const FIELDS: ReadonlyArray<FilterField<(typeof TASK_FILTERS)[number]>> = [
  { key: 'status', label: 'Status', kind: 'select', options: TASK_STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] })) },
  { key: 'reason', label: 'Reason', kind: 'select', options: TASK_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] })) },
  {
    key: 'urgency',
    label: 'Urgency',
    kind: 'select',
    options: [
      { value: 'urgent', label: 'Urgent' },
      { value: 'routine', label: 'Routine' },
    ],
  },
  {
    key: 'overdue',
    label: 'Overdue',
    kind: 'select',
    options: [
      { value: 'true', label: 'Overdue only' },
      { value: 'false', label: 'Not overdue' },
    ],
  },
  { key: 'assignee', label: 'Assignee', kind: 'select', options: [{ value: 'me', label: 'Me' }] },
];

/** The callback queue (GET /api/tasks): overdue first, filtered by codes kept in the URL. */
export function CallbacksPage() {
  usePageTitle('Callbacks');
  const session = useOutletContext<Session>();
  const [filters, apply] = useUrlFilters(TASK_FILTERS);
  const tasks = useQuery({ queryKey: ['tasks', session.activePracticeId, filters], queryFn: ({ signal }) => fetchTasks(filters, signal), retry: false });
  const rows = tasks.data ? queueOrder(tasks.data.tasks) : [];
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Callbacks
      </Title>
      <FilterForm key={JSON.stringify(filters)} label="Filter callbacks" fields={FIELDS} initial={filters} onApply={apply} />
      <QueryState query={tasks} loading="Loading callbacks" error="Could not load the callbacks" empty={rows.length === 0} emptyText="No callbacks match these filters." />
      {rows.length > 0 ? <DataTable caption="Callbacks, overdue first" columns={TASK_COLUMNS} rows={rows} rowKey={(t) => t.id} /> : null}
    </Stack>
  );
}

const TASK_COLUMNS: ReadonlyArray<Column<TaskSummary>> = [
  {
    header: 'Due',
    cell: (t) => (
      <>
        {when(t.dueAt)} {t.overdue ? <Badge color="red">Overdue</Badge> : null}
      </>
    ),
  },
  { header: 'Reason', cell: (t) => REASON_LABELS[t.reason] },
  { header: 'Urgency', cell: (t) => (t.urgency === 'urgent' ? <Badge color="red">Urgent</Badge> : 'Routine') },
  { header: 'Patient', cell: (t) => MATCH_LABELS[t.patient.match] },
  { header: 'Status', cell: (t) => STATUS_LABELS[t.status] },
  { header: 'Attempts', cell: (t) => t.attempts },
  {
    header: 'Task',
    cell: (t) => (
      <Anchor component={Link} to={`/callbacks/${t.id}`}>
        Open task
      </Anchor>
    ),
  },
];

/** One task: the number to call, why, who it may be, its attempts; claim, call back, record an attempt, close. */
export function CallbackTaskPage() {
  usePageTitle('Callback');
  const { taskId = '' } = useParams();
  const session = useOutletContext<Session>();
  const client = useQueryClient();
  const task = useQuery({ queryKey: ['task', session.activePracticeId, taskId], queryFn: ({ signal }) => fetchTask(taskId, signal), retry: false });
  const refresh = async (): Promise<void> => {
    await client.invalidateQueries({ queryKey: ['task', session.activePracticeId, taskId] });
    await client.invalidateQueries({ queryKey: ['tasks'] });
  };
  const claim = useMutation({ mutationFn: () => claimTask(taskId), onSuccess: refresh });
  const canWork = activeRole(session) !== 'auditor';
  if (task.isPending) return <Loading label="Loading the callback" />;
  if (task.isError) return <ErrorState error={task.error} title="Could not load the callback" onRetry={() => void task.refetch()} />;
  const t = task.data;
  const open = t.status === 'open' || t.status === 'claimed';
  return (
    <Stack gap="md">
      <Anchor component={Link} to="/callbacks">
        Back to the callbacks
      </Anchor>
      <Title order={1} size="h2">
        Callback
      </Title>
      <Paper withBorder p="md">
        <dl className="facts">
          <dt>Callback number</dt>
          <dd>
            <PhoneNumber number={t.callbackNumber} none="Not given" />
          </dd>
          <dt>Reason</dt>
          <dd>{REASON_LABELS[t.reason]}</dd>
          <dt>Urgency</dt>
          <dd>{t.urgency === 'urgent' ? 'Urgent' : 'Routine'}</dd>
          <dt>Patient</dt>
          <dd>{MATCH_LABELS[t.patient.match]}</dd>
          <dt>Status</dt>
          <dd>
            {STATUS_LABELS[t.status]} {t.overdue ? <Badge color="red">Overdue</Badge> : null}
          </dd>
          <dt>Due</dt>
          <dd>{when(t.dueAt)}</dd>
          {t.closeNote ? (
            <>
              <dt>Closing note</dt>
              <dd>{t.closeNote}</dd>
            </>
          ) : null}
        </dl>
      </Paper>
      {canWork && open ? (
        <Group>
          {t.status === 'open' ? (
            <Button onClick={() => claim.mutate()} loading={claim.isPending}>
              Claim
            </Button>
          ) : null}
          {t.hasCallbackNumber ? <CallBackButton taskId={t.id} /> : null}
        </Group>
      ) : null}
      {activeRole(session) === 'admin' && t.status === 'claimed' ? <AssignForm taskId={t.id} assignee={t.assignee} practiceId={session.activePracticeId} onDone={refresh} /> : null}
      {claim.isError ? (
        <Alert color="red" role="alert">
          {describeError(claim.error)}
        </Alert>
      ) : null}
      <Title order={2} size="h3">
        Attempts
      </Title>
      {t.attemptList.length === 0 ? <Text c="dimmed">No attempts yet.</Text> : null}
      {t.attemptList.length > 0 ? (
        <ul className="attempts">
          {t.attemptList.map((a) => (
            <li key={a.id}>
              {when(a.at)}: {ATTEMPT_LABELS[a.outcome]}
              {a.note ? ` — ${a.note}` : ''}
            </li>
          ))}
        </ul>
      ) : null}
      {canWork && open ? <AttemptForm taskId={t.id} onDone={refresh} /> : null}
      {canWork && open ? <CloseForm taskId={t.id} onDone={refresh} /> : null}
    </Stack>
  );
}

/** An admin's hand on a claimed task: give it to another person of the practice, or release it to open. */
function AssignForm({ taskId, assignee, practiceId, onDone }: { taskId: string; assignee: string | null; practiceId: string | null; onDone: () => Promise<void> }) {
  const people = useQuery({ queryKey: ['users', practiceId], queryFn: ({ signal }) => fetchUsers(signal), retry: false });
  const [to, setTo] = useState('');
  const change = useMutation({
    mutationFn: (next: string | null) => assignTask(taskId, next),
    onSuccess: async () => {
      setTo('');
      await onDone();
    },
  });
  const choices = (people.data?.users ?? []).filter((u) => u.status === 'active' && u.role !== 'auditor' && `user:${u.userId}` !== assignee);
  return (
    <form
      aria-label="Reassign the callback"
      onSubmit={(e) => {
        e.preventDefault();
        if (to) change.mutate(to);
      }}
    >
      <Stack gap="sm">
        {people.isError ? <ErrorState error={people.error} title="Could not load the practice's people" onRetry={() => void people.refetch()} /> : null}
        <NativeSelect
          label="Reassign to"
          value={to}
          onChange={(e) => setTo(e.currentTarget.value)}
          data={[{ value: '', label: people.isPending ? 'Loading…' : 'Choose a person' }, ...choices.map((u) => ({ value: `user:${u.userId}`, label: u.displayName }))]}
        />
        {change.isError ? (
          <Alert color="red" role="alert">
            {describeError(change.error)}
          </Alert>
        ) : null}
        <Group>
          <Button type="submit" disabled={!to} loading={change.isPending && change.variables !== null}>
            Reassign
          </Button>
          <Button type="button" variant="subtle" color="dark" onClick={() => change.mutate(null)} loading={change.isPending && change.variables === null}>
            Release
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function AttemptForm({ taskId, onDone }: { taskId: string; onDone: () => Promise<void> }) {
  const [outcome, setOutcome] = useState<AttemptOutcome>('no_answer');
  const [note, setNote] = useState('');
  const add = useMutation({
    mutationFn: () => addAttempt(taskId, outcome, note),
    onSuccess: async () => {
      setNote('');
      await onDone();
    },
  });
  return (
    <form
      aria-label="Record an attempt"
      onSubmit={(e) => {
        e.preventDefault();
        add.mutate();
      }}
    >
      <Stack gap="sm">
        <NativeSelect label="Attempt outcome" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value as AttemptOutcome)} data={ATTEMPT_OUTCOMES.map((o) => ({ value: o, label: ATTEMPT_LABELS[o] }))} />
        <Textarea label="Attempt note" value={note} onChange={(e) => setNote(e.currentTarget.value)} maxLength={2000} autosize minRows={2} />
        {add.isError ? (
          <Alert color="red" role="alert">
            {describeError(add.error)}
          </Alert>
        ) : null}
        <div>
          <Button type="submit" loading={add.isPending}>
            Record attempt
          </Button>
        </div>
      </Stack>
    </form>
  );
}

const CLOSE_LABELS: Record<CloseOutcome, string> = { done: 'Done: the patient was helped', unreachable: 'Unreachable', cancelled: 'Cancelled' };

function CloseForm({ taskId, onDone }: { taskId: string; onDone: () => Promise<void> }) {
  const [outcome, setOutcome] = useState<CloseOutcome>('done');
  const [note, setNote] = useState('');
  const close = useMutation({ mutationFn: () => closeTask(taskId, outcome, note), onSuccess: onDone });
  return (
    <form
      aria-label="Close the callback"
      onSubmit={(e) => {
        e.preventDefault();
        close.mutate();
      }}
    >
      <Stack gap="sm">
        <NativeSelect label="Close as" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value as CloseOutcome)} data={CLOSE_OUTCOMES.map((o) => ({ value: o, label: CLOSE_LABELS[o] }))} />
        <Textarea label="Closing note" value={note} onChange={(e) => setNote(e.currentTarget.value)} maxLength={2000} autosize minRows={2} />
        {close.isError ? (
          <Alert color="red" role="alert">
            {describeError(close.error)}
          </Alert>
        ) : null}
        <div>
          <Button type="submit" color="dark" loading={close.isPending}>
            Close the callback
          </Button>
        </div>
      </Stack>
    </form>
  );
}
