import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Alert, Button, Checkbox, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { ErrorState } from '../../components/states';
import { searchPatients, type PatientSummary } from '../patients/api';
import { fullName } from '../patients/patients-page';
import { addRecipientCsv, addRecipientIds, type RecipientsAnswer } from './api';

/**
 * Step 3: recipients, from a CSV with a `patient_id` column (and optionally `appointment_id`; sent as the file, text/csv) or from
 * a patient search (the terms go in the request body, as on the Patients page). Each upload's
 * answer says how many were added and which rows were not, with the reason.
 */
export function RecipientsStep({ campaignId, onDone }: { campaignId: string; onDone: () => void }) {
  const [added, setAdded] = useState(0);
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const fromCsv = useMutation({ mutationFn: () => (file ? addRecipientCsv(campaignId, file) : Promise.reject(new Error('no file'))), onSuccess: (a) => setAdded((n) => n + a.added) });
  const fromSearch = useMutation({
    mutationFn: () => addRecipientIds(campaignId, [...picked]),
    onSuccess: (a) => {
      setAdded((n) => n + a.added);
      setPicked(new Set());
    },
  });
  const search = useMutation({ mutationFn: () => searchPatients({ name }) });
  const upload = (e: FormEvent): void => {
    e.preventDefault();
    fromCsv.mutate();
  };
  const find = (e: FormEvent): void => {
    e.preventDefault();
    search.mutate();
  };
  const toggle = (p: PatientSummary, on: boolean): void => {
    const next = new Set(picked);
    if (on) next.add(p.id);
    else next.delete(p.id);
    setPicked(next);
  };
  return (
    <Stack gap="lg">
      <section aria-labelledby="recipients-csv-heading">
        <Title order={2} size="h4" id="recipients-csv-heading" mb="xs">
          From a CSV
        </Title>
        <Text size="sm">
          A header row naming a <code>patient_id</code> column, one patient a row; for a reminder, an optional <code>appointment_id</code> column names the appointment each one hears about
          (blank: their next one). Other columns are ignored.
        </Text>
        <form onSubmit={upload} aria-label="Recipients from a CSV" className="filters">
          <div className="file-field">
            <label htmlFor="recipients-file">CSV of patient ids</label>
            <input id="recipients-file" type="file" accept=".csv,text/csv" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
          </div>
          <div className="filters-actions">
            <Button type="submit" disabled={!file} loading={fromCsv.isPending}>
              Add from the file
            </Button>
          </div>
        </form>
        {fromCsv.isError ? <ErrorState error={fromCsv.error} title="The file was not accepted" /> : null}
        {fromCsv.data ? <RecipientsReport answer={fromCsv.data} /> : null}
      </section>
      <section aria-labelledby="recipients-search-heading">
        <Title order={2} size="h4" id="recipients-search-heading" mb="xs">
          From a search
        </Title>
        <form onSubmit={find} aria-label="Find patients" className="filters">
          <TextInput label="Patient name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <div className="filters-actions">
            <Button type="submit" variant="default" loading={search.isPending} disabled={name.trim() === ''}>
              Find
            </Button>
          </div>
        </form>
        {search.isError ? <ErrorState error={search.error} title="The search failed" /> : null}
        {search.data?.patients.length === 0 ? <Text size="sm">No patient found.</Text> : null}
        {search.data && search.data.patients.length > 0 ? (
          <Stack gap="xs" mt="xs">
            <Table.ScrollContainer minWidth={320}>
              <Table captionSide="top">
                <Table.Caption className="visually-hidden">Patients found</Table.Caption>
                <Table.Tbody>
                  {search.data.patients.map((p) => (
                    <Table.Tr key={p.id}>
                      <Table.Td>
                        <Checkbox label={`${fullName(p)} (${p.dateOfBirth})`} checked={picked.has(p.id)} onChange={(e) => toggle(p, e.currentTarget.checked)} />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Group>
              <Button variant="default" disabled={picked.size === 0} loading={fromSearch.isPending} onClick={() => fromSearch.mutate()}>
                Add {picked.size} selected
              </Button>
            </Group>
          </Stack>
        ) : null}
        {fromSearch.isError ? <ErrorState error={fromSearch.error} title="Not added" /> : null}
        {fromSearch.data ? <RecipientsReport answer={fromSearch.data} /> : null}
      </section>
      <Text size="sm" role="status" aria-live="polite">
        {added} {added === 1 ? 'recipient' : 'recipients'} added so far.
      </Text>
      <Group>
        <Button onClick={onDone} disabled={added === 0}>
          Next: dry run
        </Button>
      </Group>
    </Stack>
  );
}

function RecipientsReport({ answer }: { answer: RecipientsAnswer }) {
  return (
    <Alert color={answer.rows.length === 0 ? 'green' : 'yellow'} mt="xs" title={`${answer.added} added`}>
      {answer.rows.length === 0 ? (
        'Every row was added.'
      ) : (
        <ul className="field-problems">
          {answer.rows.map((r) => (
            <li key={r.row}>
              Row {r.row}: {r.result.replaceAll('_', ' ')}
              {r.message ? ` — ${r.message}` : ''}
            </li>
          ))}
        </ul>
      )}
    </Alert>
  );
}
