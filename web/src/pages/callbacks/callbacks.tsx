import { useState, type FormEvent } from 'react';
import { Link, useOutletContext, useParams, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Anchor, Badge, Button, Group, NativeSelect, Paper, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { describeError } from '../../api/errors';
import { usePageTitle } from '../../components/page-title';
import { Empty, ErrorState, Loading } from '../../components/states';
import {
  ATTEMPT_LABELS,
  ATTEMPT_OUTCOMES,
  CLOSE_OUTCOMES,
  MATCH_LABELS,
  REASON_LABELS,
  STATUS_LABELS,
  TASK_REASONS,
  TASK_STATUSES,
  addAttempt,
  claimTask,
  closeTask,
  fetchTask,
  fetchTasks,
  queueOrder,
  taskFiltersOf,
  when,
  type AttemptOutcome,
  type CloseOutcome,
  type TaskFilters,
  type TaskSummary,
} from './api';
import { CallBackButton } from './call-back-button';

/** The callback queue (GET /api/tasks): overdue first, filtered by codes kept in the URL. */
export function CallbacksPage() {
  usePageTitle('Callbacks');
  const session = useOutletContext<Session>();
  const [params, setParams] = useSearchParams();
  const filters = taskFiltersOf(params);
  const tasks = useQuery({ queryKey: ['tasks', session.activePracticeId, filters], queryFn: ({ signal }) => fetchTasks(filters, signal), retry: false });
  const rows = tasks.data ? queueOrder(tasks.data.tasks) : [];
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Callbacks
      </Title>
      <TaskFilterForm
        initial={filters}
        onApply={(next) => {
          const search = new URLSearchParams();
          for (const [key, value] of Object.entries(next)) if (value) search.set(key, value);
          setParams(search);
        }}
      />
      {tasks.isPending ? <Loading label="Loading callbacks" /> : null}
      {tasks.isError ? <ErrorState error={tasks.error} title="Could not load the callbacks" onRetry={() => void tasks.refetch()} /> : null}
      {tasks.isSuccess && rows.length === 0 ? <Empty>No callbacks match these filters.</Empty> : null}
      {rows.length > 0 ? <TaskTable rows={rows} /> : null}
    </Stack>
  );
}

function TaskFilterForm({ initial, onApply }: { initial: TaskFilters; onApply: (f: TaskFilters) => void }) {
  const [draft, setDraft] = useState<TaskFilters>(initial);
  const set = (key: keyof TaskFilters) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    onApply(draft);
  };
  const any = { value: '', label: 'Any' };
  return (
    <form onSubmit={submit} aria-label="Filter callbacks" className="filters">
      <NativeSelect label="Status" value={draft.status ?? ''} onChange={set('status')} data={[any, ...TASK_STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] }))]} />
      <NativeSelect label="Reason" value={draft.reason ?? ''} onChange={set('reason')} data={[any, ...TASK_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] }))]} />
      <NativeSelect label="Urgency" value={draft.urgency ?? ''} onChange={set('urgency')} data={[any, { value: 'urgent', label: 'Urgent' }, { value: 'routine', label: 'Routine' }]} />
      <NativeSelect label="Overdue" value={draft.overdue ?? ''} onChange={set('overdue')} data={[any, { value: 'true', label: 'Overdue only' }, { value: 'false', label: 'Not overdue' }]} />
      <NativeSelect label="Assignee" value={draft.assignee ?? ''} onChange={set('assignee')} data={[any, { value: 'me', label: 'Me' }]} />
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

function TaskTable({ rows }: { rows: TaskSummary[] }) {
  return (
    <Table.ScrollContainer minWidth={700}>
      <Table striped highlightOnHover captionSide="top">
        <Table.Caption className="visually-hidden">Callbacks, overdue first</Table.Caption>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Due</Table.Th>
            <Table.Th scope="col">Reason</Table.Th>
            <Table.Th scope="col">Urgency</Table.Th>
            <Table.Th scope="col">Patient</Table.Th>
            <Table.Th scope="col">Status</Table.Th>
            <Table.Th scope="col">Attempts</Table.Th>
            <Table.Th scope="col">Task</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((t) => (
            <Table.Tr key={t.id}>
              <Table.Td>
                {when(t.dueAt)} {t.overdue ? <Badge color="red">Overdue</Badge> : null}
              </Table.Td>
              <Table.Td>{REASON_LABELS[t.reason]}</Table.Td>
              <Table.Td>{t.urgency === 'urgent' ? <Badge color="red">Urgent</Badge> : 'Routine'}</Table.Td>
              <Table.Td>{MATCH_LABELS[t.patient.match]}</Table.Td>
              <Table.Td>{STATUS_LABELS[t.status]}</Table.Td>
              <Table.Td>{t.attempts}</Table.Td>
              <Table.Td>
                <Anchor component={Link} to={`/callbacks/${t.id}`}>
                  Open task
                </Anchor>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

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
          <dd>{t.callbackNumber ?? 'Not given'}</dd>
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
