import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery } from '@tanstack/react-query';
import { Alert, Button, Group, NativeSelect, Progress, Stack, Table, Text, Title } from '@mantine/core';
import { usePageTitle } from '../../components/page-title';
import { pollingQueryFn } from '../../api/client';
import { Empty, ErrorState } from '../../components/states';
import { readImport, startImport, type ImportDetail, type ImportKind } from './api';
import { countCsvRows, importOutcome, importProgress } from './import-progress';

/** How often a running import is asked how far it got. */
const POLL_MS = 700;

/**
 * Import a CSV of patients or appointments: a dry run first (the service reads and reports,
 * writes nothing), then the same file for real. The upload answers 202 with the import's id;
 * the bar follows GET /api/imports/:id (rows read) until the row report.
 */
export function ImportPage() {
  usePageTitle('Import a CSV');
  const [kind, setKind] = useState<ImportKind>('patients');
  const [file, setFile] = useState<File | null>(null);
  const [expectedRows, setExpectedRows] = useState<number | null>(null);
  const [run, setRun] = useState<{ id: string; dryRun: boolean } | null>(null);

  const upload = useMutation({
    mutationFn: async ({ dryRun }: { dryRun: boolean }) => {
      if (!file) throw new Error('no file');
      return { ...(await startImport(kind, file, dryRun)), dryRun };
    },
    onSuccess: (accepted) => setRun({ id: accepted.id, dryRun: accepted.dryRun }),
  });

  const detail = useQuery({
    queryKey: ['import', run?.id],
    queryFn: pollingQueryFn<ImportDetail>((signal) => readImport(run?.id ?? '', signal)),
    enabled: run !== null,
    retry: false,
    refetchInterval: (q) => (q.state.data && (q.state.data.status === 'done' || q.state.data.status === 'failed') ? false : POLL_MS),
  });
  const progress = importProgress(detail.data, expectedRows);
  const finished = detail.data && progress.finished ? detail.data : null;

  const choose = (chosen: File | null): void => {
    setFile(chosen);
    setRun(null);
    setExpectedRows(null);
    upload.reset();
    // Counted here so that the bar has an end; the file never leaves the page but to the service.
    if (chosen) void chosen.text().then((text) => setExpectedRows(countCsvRows(text)));
  };
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    setRun(null);
    upload.mutate({ dryRun: true });
  };

  return (
    <Stack gap="md">
      <Text size="sm">
        <Link to="/patients">← Patients</Link>
      </Text>
      <Title order={1} size="h2">
        Import a CSV
      </Title>
      <Text size="sm">
        Patients (<code>mrn, first_name, last_name, date_of_birth, phone, …</code>) or appointments (<code>mrn, starts_at, status, provider, location</code>). A dry run reads the whole file and reports every invalid or
        duplicate row; nothing is written until you import it for real, and an invalid row stops the whole file.
      </Text>
      <form onSubmit={submit} aria-label="Upload a CSV" className="filters">
        <NativeSelect
          label="What the file holds"
          value={kind}
          onChange={(e) => {
            setKind(e.currentTarget.value as ImportKind);
            setRun(null);
          }}
          data={[
            { value: 'patients', label: 'Patients' },
            { value: 'appointments', label: 'Appointments' },
          ]}
        />
        <div className="file-field">
          <label htmlFor="import-file">CSV file</label>
          <input id="import-file" type="file" accept=".csv,text/csv" onChange={(e) => choose(e.currentTarget.files?.[0] ?? null)} />
        </div>
        <div className="filters-actions">
          <Button type="submit" disabled={!file} loading={upload.isPending && upload.variables?.dryRun === true}>
            Dry run
          </Button>
        </div>
      </form>
      {file && expectedRows !== null ? (
        <Text size="sm" c="dimmed">
          {expectedRows} {expectedRows === 1 ? 'row' : 'rows'} in the file.
        </Text>
      ) : null}
      {upload.isError ? <ErrorState error={upload.error} title="The file was not accepted" /> : null}
      {run ? (
        <section aria-labelledby="import-run-heading">
          <Title order={2} size="h4" id="import-run-heading" mb="xs">
            {run.dryRun ? 'Dry run' : 'Import'}
          </Title>
          <Progress.Root size="lg">
            <Progress.Section value={progress.value} animated={!progress.finished} aria-label={run.dryRun ? 'Dry run progress' : 'Import progress'} />
          </Progress.Root>
          <Text size="sm" role="status" aria-live="polite" mt={4}>
            {progress.label}
          </Text>
          {detail.isError ? <ErrorState error={detail.error} title="Could not follow the import" onRetry={() => void detail.refetch()} /> : null}
        </section>
      ) : null}
      {finished ? <ImportReport detail={finished} canCommit={finished.dryRun && finished.status === 'done' && finished.invalid === 0} committing={upload.isPending} onCommit={() => upload.mutate({ dryRun: false })} /> : null}
    </Stack>
  );
}

function ImportReport({ detail, canCommit, committing, onCommit }: { detail: ImportDetail; canCommit: boolean; committing: boolean; onCommit: () => void }) {
  const entries = detail.report?.entries ?? [];
  const failed = detail.status === 'failed' || (!detail.dryRun && !detail.committed) || detail.invalid > 0;
  return (
    <section aria-labelledby="import-report-heading">
      <Stack gap="sm">
        <Title order={2} size="h4" id="import-report-heading">
          Row report
        </Title>
        <Alert color={failed ? 'red' : 'green'} title={detail.dryRun ? 'Dry run finished' : 'Import finished'}>
          {importOutcome(detail)}
        </Alert>
        {entries.length === 0 ? (
          <Empty>No invalid or duplicate rows.</Empty>
        ) : (
          <Table.ScrollContainer minWidth={520}>
            <Table striped captionSide="top">
              <Table.Caption className="visually-hidden">Invalid and duplicate rows</Table.Caption>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Row</Table.Th>
                  <Table.Th scope="col">Outcome</Table.Th>
                  <Table.Th scope="col">Field</Table.Th>
                  <Table.Th scope="col">Reason</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {entries.map((e, i) => (
                  <Table.Tr key={`${e.row}-${e.field}-${i}`}>
                    <Table.Td>{e.row}</Table.Td>
                    <Table.Td>{e.outcome}</Table.Td>
                    <Table.Td className="mono">{e.field}</Table.Td>
                    <Table.Td>{e.reason}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
        {detail.report && detail.report.entriesTotal > entries.length ? (
          <Text size="sm" c="dimmed">
            The first {entries.length} of {detail.report.entriesTotal} entries.
          </Text>
        ) : null}
        {canCommit ? (
          <Group>
            <Button onClick={onCommit} loading={committing}>
              Import for real
            </Button>
          </Group>
        ) : null}
      </Stack>
    </section>
  );
}
