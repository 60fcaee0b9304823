import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Checkbox, Group, NativeSelect, Stack, Table, Text } from '@mantine/core';
import { ApiError } from '../../api/errors';
import { whenExact } from '../../components/format';
import { ErrorState, Loading } from '../../components/states';
import { MATRIX_CHANNELS, MATRIX_DETAILS, MESSAGE_TYPES, fetchMatrix, putMatrix, type Matrix, type MatrixAnswer, type MatrixChannel, type MatrixDetail, type MessageType } from './api';

/**
 * Settings → Communication matrix (src/outreach/matrix.ts): for each message type × channel,
 * whether it may go out at all and the most detail it may carry. Admins change cells and save
 * (a new version, audited); staff and auditors read it. The cells no practice may close are
 * shown disabled with the server's reason; a refused save names its problem under the cell.
 */

const TYPE_LABELS: Record<MessageType, string> = {
  appointment_reminder: 'Appointment reminder',
  appointment_confirmation: 'Appointment confirmation',
  recall: 'Recall',
  office_closure: 'Office closure',
  billing_callback: 'Billing callback',
  callback_request: 'Callback request',
  results_ready: 'Results ready',
  staff_page: 'Staff page',
};
const CHANNEL_LABELS: Record<MatrixChannel, string> = { sms: 'SMS', rvm: 'Ringless voicemail', voice: 'Voice call', email: 'E-mail' };
const DETAIL_LABELS: Record<MatrixDetail, string> = { none: 'No detail', logistics: 'Logistics' };

/** The problems a refused save named, by cell (`recall.email` → "…"): the API's field paths are `type.channel.allowed|detail`. */
export function cellProblems(err: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!(err instanceof ApiError)) return out;
  for (const f of err.fields) {
    const m = /^(?:body\.)?([a-z_]+)\.([a-z]+)(?:\.(allowed|detail))?$/.exec(f.field);
    if (m?.[1] && m[2]) out.set(`${m[1]}.${m[2]}`, f.problem);
  }
  return out;
}

/** The table itself: controlled (the panel owns the draft), every cell a labelled checkbox and select. */
export function MatrixTable({
  matrix,
  locked,
  editable,
  problems,
  onChange,
}: {
  matrix: Matrix;
  locked: MatrixAnswer['locked'];
  editable: boolean;
  problems: ReadonlyMap<string, string>;
  onChange: (type: MessageType, channel: MatrixChannel, cell: Matrix[MessageType][MatrixChannel]) => void;
}) {
  const lockOf = (type: MessageType, channel: MatrixChannel): string | undefined => locked.find((l) => l.type === type && l.channel === channel)?.why;
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table captionSide="top" withColumnBorders>
        <Table.Caption className="visually-hidden">Communication matrix: message types by channel</Table.Caption>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Message type</Table.Th>
            {MATRIX_CHANNELS.map((c) => (
              <Table.Th scope="col" key={c}>
                {CHANNEL_LABELS[c]}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {MESSAGE_TYPES.map((type) => (
            <Table.Tr key={type}>
              <Table.Th scope="row">{TYPE_LABELS[type]}</Table.Th>
              {MATRIX_CHANNELS.map((channel) => {
                const cell = matrix[type][channel];
                const why = lockOf(type, channel);
                const problem = problems.get(`${type}.${channel}`);
                const name = `${TYPE_LABELS[type]} by ${CHANNEL_LABELS[channel]}`;
                const noteId = `matrix-${type}-${channel}-note`;
                const described = why !== undefined || problem !== undefined ? { 'aria-describedby': noteId } : {};
                return (
                  <Table.Td key={channel} data-cell={`${type}.${channel}`}>
                    <Stack gap={4}>
                      <Checkbox
                        label="Allowed"
                        aria-label={`${name}: allowed`}
                        checked={cell.allowed}
                        disabled={!editable || why !== undefined}
                        onChange={(e) => onChange(type, channel, { ...cell, allowed: e.currentTarget.checked })}
                        {...described}
                        {...(problem !== undefined ? { 'aria-invalid': true } : {})}
                      />
                      <NativeSelect
                        size="xs"
                        aria-label={`${name}: detail`}
                        value={cell.detail}
                        disabled={!editable}
                        onChange={(e) => onChange(type, channel, { ...cell, detail: e.currentTarget.value as MatrixDetail })}
                        data={MATRIX_DETAILS.map((d) => ({ value: d, label: DETAIL_LABELS[d] }))}
                        {...described}
                      />
                      {why !== undefined || problem !== undefined ? (
                        <Text size="xs" id={noteId} c={problem !== undefined ? 'red' : 'dimmed'}>
                          {problem !== undefined ? `Refused: ${problem}` : `Locked open: ${why}`}
                        </Text>
                      ) : null}
                    </Stack>
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** The panel: the current version (who changed it last), the table, and for admins Save. */
export function MatrixPanel({ practiceId, admin }: { practiceId: string; admin: boolean }) {
  const client = useQueryClient();
  const key = ['settings', practiceId, 'matrix'];
  const current = useQuery({ queryKey: key, queryFn: ({ signal }) => fetchMatrix(practiceId, signal), retry: false });
  // The admin's changes, on top of the version they were made against.
  const [draft, setDraft] = useState<{ version: number; matrix: Matrix } | null>(null);
  const save = useMutation({
    mutationFn: (matrix: Matrix) => putMatrix(practiceId, matrix),
    onSuccess: (saved) => {
      client.setQueryData(key, saved);
      setDraft(null);
    },
  });
  if (current.isPending) return <Loading label="Loading the communication matrix" />;
  if (current.isError) return <ErrorState error={current.error} title="Could not load the communication matrix" onRetry={() => void current.refetch()} />;
  const data = current.data;
  const matrix = draft && draft.version === data.version ? draft.matrix : data.matrix;
  const changed = draft !== null && draft.version === data.version;
  const edit = (type: MessageType, channel: MatrixChannel, cell: Matrix[MessageType][MatrixChannel]): void => {
    setDraft({ version: data.version, matrix: { ...matrix, [type]: { ...matrix[type], [channel]: cell } } });
  };
  return (
    <Stack gap="md">
      <Text size="sm" aria-live="polite">
        {data.isDefault ? (
          <>Version 0: the defaults (this practice has never changed them).</>
        ) : (
          <>
            Version {data.version}, saved {data.updatedAt ? whenExact(data.updatedAt) : ''} by <span className="mono">{data.updatedBy ?? 'unknown'}</span>.
          </>
        )}
      </Text>
      <Text size="sm" c="dimmed">
        Every message the service sends asks this table first: a closed cell is never sent; "No detail" carries who is calling and a request to call back, "Logistics" also the hours or an appointment's day, time and place. Nothing clinical is ever allowed.
      </Text>
      <MatrixTable matrix={matrix} locked={data.locked} editable={admin} problems={cellProblems(save.error)} onChange={edit} />
      {admin ? (
        <Group>
          <Button onClick={() => save.mutate(matrix)} loading={save.isPending} disabled={!changed}>
            Save the matrix
          </Button>
          <Button variant="default" onClick={() => setDraft(null)} disabled={!changed}>
            Discard changes
          </Button>
        </Group>
      ) : (
        <Text size="sm">Only an admin changes the matrix.</Text>
      )}
      {save.isError ? <ErrorState error={save.error} title="Not saved" /> : null}
      {save.isSuccess && !changed ? (
        <Alert color="green" role="status" title="Saved">
          The matrix is now version {data.version}.
        </Alert>
      ) : null}
    </Stack>
  );
}
