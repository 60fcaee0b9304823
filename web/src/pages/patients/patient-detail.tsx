import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Badge, Button, Group, NativeSelect, Stack, Text, TextInput, Title } from '@mantine/core';
import { usePageTitle } from '../../components/page-title';
import { Empty, ErrorState, QueryState } from '../../components/states';
import { DataTable, type Column } from '../../components/data-table';
import { PhoneNumber } from '../../components/phone-number';
import { when } from '../../components/format';
import { CONSENT_CHANNELS, readAppointments, readConsents, readPatient, updatePatient, type PatientPatch, type PatientView } from './api';
import { fieldError, fullName } from './patients-page';

const CHANNEL_LABELS = { voice: 'Voice calls', rvm: 'Ringless voicemail', sms: 'Text messages', email: 'E-mail' } as const;


/** One patient (GET /api/patients/:id): numbers, consents per channel with their history, appointments; edit. The title never names them. */
export function PatientDetail() {
  usePageTitle('Patient');
  const { patientId = '' } = useParams();
  const patient = useQuery({ queryKey: ['patient', patientId], queryFn: ({ signal }) => readPatient(patientId, signal), retry: false });
  const [editing, setEditing] = useState(false);

  return (
    <Stack gap="md">
      <Text size="sm">
        <Link to="/patients">← Patients</Link>
      </Text>
      <QueryState query={patient} loading="Loading the patient" error="Could not load the patient" />
      {patient.data ? (
        <>
          <Group justify="space-between">
            <Title order={1} size="h2">
              {fullName(patient.data)}
            </Title>
            {!patient.data.active ? <Badge color="gray">inactive</Badge> : null}
            <Button variant="default" onClick={() => setEditing(!editing)}>
              {editing ? 'Cancel editing' : 'Edit'}
            </Button>
          </Group>
          {editing ? <EditPatient patient={patient.data} onDone={() => setEditing(false)} /> : <PatientFacts patient={patient.data} />}
          <ConsentsPanel patientId={patientId} />
          <AppointmentsPanel patientId={patientId} />
        </>
      ) : null}
    </Stack>
  );
}

function PatientFacts({ patient }: { patient: PatientView }) {
  return (
    <Stack gap="xs">
      <dl className="facts">
        <dt>Date of birth</dt>
        <dd>{patient.dateOfBirth}</dd>
        <dt>MRN</dt>
        <dd className="mono">{patient.mrn ?? '—'}</dd>
        <dt>Language</dt>
        <dd>{patient.preferredLanguage ?? '—'}</dd>
        <dt>State</dt>
        <dd>{patient.usState ?? '—'}</dd>
      </dl>
      <Title order={2} size="h4">
        Numbers
      </Title>
      {patient.phones.length === 0 ? (
        <Empty>No numbers.</Empty>
      ) : (
        <ul className="plain-list">
          {patient.phones.map((n) => (
            <li key={n.id}>
              <PhoneNumber number={n.number} none="(removed)" /> {n.kind}
              {n.preferred ? (
                <Badge size="xs" ml={6}>
                  preferred
                </Badge>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </Stack>
  );
}

function EditPatient({ patient, onDone }: { patient: PatientView; onDone: () => void }) {
  const client = useQueryClient();
  const [draft, setDraft] = useState({
    firstName: patient.firstName ?? '',
    lastName: patient.lastName ?? '',
    dateOfBirth: patient.dateOfBirth,
    mrn: patient.mrn ?? '',
    preferredLanguage: patient.preferredLanguage ?? '',
    usState: patient.usState ?? '',
  });
  const save = useMutation({
    mutationFn: (patch: PatientPatch) => updatePatient(patient.id, patch),
    onSuccess: (updated) => {
      client.setQueryData(['patient', patient.id], updated);
      onDone();
    },
  });
  const set = (key: keyof typeof draft) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    // Only what changed is sent; an emptied optional field is cleared (null).
    const patch: PatientPatch = {};
    const orNull = (v: string): string | null => (v.trim() === '' ? null : v.trim());
    if (draft.firstName !== (patient.firstName ?? '')) patch.firstName = orNull(draft.firstName);
    if (draft.lastName !== (patient.lastName ?? '')) patch.lastName = orNull(draft.lastName);
    if (draft.dateOfBirth !== patient.dateOfBirth) patch.dateOfBirth = draft.dateOfBirth;
    if (draft.mrn !== (patient.mrn ?? '')) patch.mrn = orNull(draft.mrn);
    if (draft.preferredLanguage !== (patient.preferredLanguage ?? '')) patch.preferredLanguage = orNull(draft.preferredLanguage);
    if (draft.usState !== (patient.usState ?? '')) patch.usState = orNull(draft.usState.toUpperCase());
    if (Object.keys(patch).length === 0) return onDone();
    save.mutate(patch);
  };
  const err = save.error;
  return (
    <form onSubmit={submit} aria-label="Edit the patient" className="form-grid" autoComplete="off">
      <TextInput label="First name" value={draft.firstName} onChange={set('firstName')} error={fieldError(err, 'firstName')} />
      <TextInput label="Last name" value={draft.lastName} onChange={set('lastName')} error={fieldError(err, 'lastName')} />
      <TextInput label="Date of birth" type="date" required value={draft.dateOfBirth} onChange={set('dateOfBirth')} error={fieldError(err, 'dateOfBirth')} />
      <TextInput label="MRN" value={draft.mrn} onChange={set('mrn')} error={fieldError(err, 'mrn')} />
      <NativeSelect
        label="Language"
        value={draft.preferredLanguage}
        onChange={set('preferredLanguage')}
        data={[
          { value: '', label: 'Not set' },
          { value: 'en', label: 'English' },
          { value: 'es', label: 'Spanish' },
        ]}
      />
      <TextInput label="State" maxLength={2} value={draft.usState} onChange={set('usState')} error={fieldError(err, 'usState')} />
      <Group>
        <Button type="submit" loading={save.isPending}>
          Save
        </Button>
      </Group>
      {save.isError ? <ErrorState error={err} title="Could not save" /> : null}
    </form>
  );
}

type ConsentEntry = Awaited<ReturnType<typeof readConsents>>['history'][number];

const CONSENT_COLUMNS: ReadonlyArray<Column<ConsentEntry>> = [
  { header: 'When', cell: (e) => when(e.recordedAt) },
  { header: 'Channel', cell: (e) => CHANNEL_LABELS[e.channel] },
  { header: 'Action', cell: (e) => e.action },
  { header: 'Source', cell: (e) => e.source },
  { header: 'Disclosure', cell: (e) => e.disclosureVersion ?? '—' },
];

function ConsentsPanel({ patientId }: { patientId: string }) {
  const consents = useQuery({ queryKey: ['patient', patientId, 'consents'], queryFn: ({ signal }) => readConsents(patientId, signal), retry: false });
  return (
    <section aria-labelledby="consents-heading">
      <Title order={2} size="h4" id="consents-heading" mb="xs">
        Consents
      </Title>
      <QueryState query={consents} loading="Loading consents" error="Could not load the consents" />
      {consents.data ? (
        <Stack gap="sm">
          <Group gap="xs">
            {CONSENT_CHANNELS.map((c) => {
              const state = consents.data.current[c];
              return (
                <Badge key={c} color={state === 'granted' ? 'green' : state === 'revoked' ? 'red' : 'gray'} variant="light">
                  {CHANNEL_LABELS[c]}: {state === 'none' ? 'not asked' : state}
                </Badge>
              );
            })}
          </Group>
          {consents.data.history.length === 0 ? (
            <Empty>No consent recorded.</Empty>
          ) : (
            <DataTable caption="Consent history, oldest first" columns={CONSENT_COLUMNS} rows={consents.data.history} rowKey={(e) => e.id} minWidth={560} striped={false} />
          )}
        </Stack>
      ) : null}
    </section>
  );
}

function AppointmentsPanel({ patientId }: { patientId: string }) {
  const appointments = useQuery({ queryKey: ['patient', patientId, 'appointments'], queryFn: ({ signal }) => readAppointments(patientId, signal), retry: false });
  const rows = appointments.data?.appointments ?? [];
  return (
    <section aria-labelledby="appointments-heading">
      <Title order={2} size="h4" id="appointments-heading" mb="xs">
        Appointments
      </Title>
      <QueryState query={appointments} loading="Loading appointments" error="Could not load the appointments" empty={rows.length === 0} emptyText="No appointments." />
      {rows.length > 0 ? (
        <ul className="plain-list">
          {rows.map((a) => (
            <li key={a.id}>
              {when(a.startsAt)} · {a.status}
              {a.locationName ? ` · ${a.locationName}` : ''}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
