import '../practice-pages.css';
import { useState, type FormEvent } from 'react';
import { Link, Route, Routes, useOutletContext } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { Badge, Button, Checkbox, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { ApiError } from '../../api/errors';
import { Empty, ErrorState } from '../../components/states';
import { searchPatients, type PatientSearch, type PatientSummary } from './api';
import { PatientDetail } from './patient-detail';
import { ImportPage } from './import-page';

/** /patients (search), /patients/import (CSV), /patients/:patientId (ids only in the URL). */
export function PatientsSection() {
  return (
    <Routes>
      <Route index element={<PatientSearchPage />} />
      <Route path="import" element={<ImportPage />} />
      <Route path=":patientId" element={<PatientDetail />} />
    </Routes>
  );
}

export function fullName(p: Pick<PatientSummary, 'firstName' | 'lastName'>): string {
  return [p.firstName, p.lastName].filter((s) => s !== null && s !== '').join(' ') || '(no name)';
}

/**
 * Search (POST /api/patients/search): the criteria stay in the page's memory and the request's
 * body, never in the URL, the title or browser storage. Leaving the page forgets them.
 */
function PatientSearchPage() {
  usePageTitle('Patients');
  const session = useOutletContext<Session>();
  const admin = activeRole(session) === 'admin';
  const [draft, setDraft] = useState<Required<Omit<PatientSearch, 'includeInactive'>> & { includeInactive: boolean }>({ name: '', dateOfBirth: '', phone: '', mrn: '', includeInactive: false });
  const search = useMutation({ mutationFn: (criteria: PatientSearch) => searchPatients(criteria) });
  const set = (key: 'name' | 'dateOfBirth' | 'phone' | 'mrn') => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const criteria: PatientSearch = { includeInactive: draft.includeInactive };
    for (const key of ['name', 'dateOfBirth', 'phone', 'mrn'] as const) {
      const value = draft[key].trim();
      if (value !== '') criteria[key] = value;
    }
    search.mutate(criteria);
  };
  const rows = search.data?.patients ?? [];

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Patients
        </Title>
        {admin ? (
          <Button component={Link} to="/patients/import" variant="default">
            Import a CSV
          </Button>
        ) : null}
      </Group>
      <form onSubmit={submit} aria-label="Search patients" className="filters" autoComplete="off">
        <TextInput label="Name" value={draft.name} onChange={set('name')} error={fieldError(search.error, 'name')} />
        <TextInput label="Date of birth" type="date" value={draft.dateOfBirth} onChange={set('dateOfBirth')} error={fieldError(search.error, 'dateOfBirth')} />
        <TextInput label="Phone (E.164)" placeholder="+13125550100" value={draft.phone} onChange={set('phone')} error={fieldError(search.error, 'phone')} />
        <TextInput label="MRN" value={draft.mrn} onChange={set('mrn')} error={fieldError(search.error, 'mrn')} />
        <Checkbox label="Include inactive" checked={draft.includeInactive} onChange={(e) => setDraft({ ...draft, includeInactive: e.currentTarget.checked })} />
        <div className="filters-actions">
          <Button type="submit" loading={search.isPending}>
            Search
          </Button>
        </div>
      </form>
      <Text size="sm" c="dimmed">
        Exact matches on the whole name or the last name, the date of birth, a number or the MRN; criteria combine.
      </Text>
      {search.isError ? <ErrorState error={search.error} title="Could not search" /> : null}
      {search.isSuccess && rows.length === 0 ? <Empty>No patient matches.</Empty> : null}
      {rows.length > 0 ? <ResultTable rows={rows} /> : null}
    </Stack>
  );
}

function ResultTable({ rows }: { rows: PatientSummary[] }) {
  return (
    <Table.ScrollContainer minWidth={520}>
      <Table striped highlightOnHover captionSide="top">
        <Table.Caption className="visually-hidden">Patients found</Table.Caption>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Name</Table.Th>
            <Table.Th scope="col">Date of birth</Table.Th>
            <Table.Th scope="col">MRN</Table.Th>
            <Table.Th scope="col">Status</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((p) => (
            <Table.Tr key={p.id}>
              <Table.Td>
                <Link to={`/patients/${p.id}`}>{fullName(p)}</Link>
              </Table.Td>
              <Table.Td>{p.dateOfBirth}</Table.Td>
              <Table.Td className="mono">{p.mrn ?? '—'}</Table.Td>
              <Table.Td>{p.active ? 'Active' : <Badge color="gray">inactive</Badge>}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** The API's word on one field of the form that was sent (a 400 names it). */
export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.fieldProblem(field) : undefined;
}
