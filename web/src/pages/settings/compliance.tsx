import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, NativeSelect, NumberInput, Stack, Text, TextInput } from '@mantine/core';
import { ApiError } from '../../api/errors';
import { QueryTable, type Column } from '../../components/data-table';
import { ErrorState } from '../../components/states';
import { fetchBaas, patchPractice, recordBaa, type Practice, type VendorBaa } from './api';

const VENDORS: Array<{ value: VendorBaa['vendor']; label: string }> = [
  { value: 'rvm_http', label: 'Ringless-voicemail vendor (rvm_http)' },
  { value: 'twilio', label: 'Twilio' },
];
const fieldError = (err: unknown, field: string): string | undefined => (err instanceof ApiError ? err.fieldProblem(field) : undefined);

const BAA_COLUMNS: ReadonlyArray<Column<VendorBaa>> = [
  { header: 'Vendor', cell: (b) => VENDORS.find((v) => v.value === b.vendor)?.label ?? b.vendor },
  { header: 'Signed', cell: (b) => b.signedAt },
  { header: 'Document', cell: (b) => b.documentRef, className: 'break' },
  { header: 'Recorded', cell: (b) => new Date(b.createdAt).toLocaleDateString(undefined, { dateStyle: 'medium' }) },
];

/**
 * The business associate agreements on record per vendor (GET/POST /api/vendor-baas): a campaign
 * through a vendor is refused until its BAA is recorded. Admins record one; others read.
 */
export function BaasPanel({ admin }: { admin: boolean }) {
  const client = useQueryClient();
  const baas = useQuery({ queryKey: ['settings', 'baas'], queryFn: ({ signal }) => fetchBaas(signal), retry: false });
  const [draft, setDraft] = useState<{ vendor: VendorBaa['vendor']; signedAt: string; documentRef: string }>({ vendor: 'rvm_http', signedAt: '', documentRef: '' });
  const save = useMutation({
    mutationFn: () => recordBaa(draft),
    onSuccess: () => {
      setDraft({ ...draft, signedAt: '', documentRef: '' });
      void client.invalidateQueries({ queryKey: ['settings', 'baas'] });
    },
  });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    save.mutate();
  };
  return (
    <Stack gap="md">
      <Text size="sm">Drops go out through a vendor only once the practice's signed business associate agreement with it is on record.</Text>
      <QueryTable
        query={baas}
        loading="Loading the agreements"
        error="Could not load the agreements"
        emptyText="No agreement on record."
        caption="Vendor agreements"
        columns={BAA_COLUMNS}
        rows={baas.data?.baas}
        rowKey={(b) => b.id}
        minWidth={480}
        striped={false}
      />
      {admin ? (
        <form onSubmit={submit} aria-label="Record an agreement" className="filters">
          <NativeSelect label="Vendor" value={draft.vendor} onChange={(e) => setDraft({ ...draft, vendor: e.currentTarget.value as VendorBaa['vendor'] })} data={VENDORS} />
          <TextInput label="Signed on" type="date" required value={draft.signedAt} onChange={(e) => setDraft({ ...draft, signedAt: e.currentTarget.value })} error={fieldError(save.error, 'signedAt')} />
          <TextInput
            label="Document reference"
            description="where the signed copy is kept"
            required
            value={draft.documentRef}
            onChange={(e) => setDraft({ ...draft, documentRef: e.currentTarget.value })}
            error={fieldError(save.error, 'documentRef')}
          />
          <div className="filters-actions">
            <Button type="submit" loading={save.isPending}>
              Record agreement
            </Button>
          </div>
        </form>
      ) : null}
      {save.isError && !fieldError(save.error, 'signedAt') && !fieldError(save.error, 'documentRef') ? <ErrorState error={save.error} title="Not recorded" /> : null}
      {save.isSuccess ? (
        <Alert color="green" role="status" title="Recorded">
          The agreement is on record.
        </Alert>
      ) : null}
    </Stack>
  );
}

/**
 * What the practice keeps and for how long: the encrypted voicemail audio, deleted after
 * `voicemailRetentionDays` (PATCH /api/practices/:id). Admins change it.
 */
export function RetentionPanel({ practice, admin }: { practice: Practice; admin: boolean }) {
  const client = useQueryClient();
  const [days, setDays] = useState<number | string>(practice.voicemailRetentionDays);
  const save = useMutation({
    mutationFn: () => patchPractice(practice.id, { voicemailRetentionDays: Number(days) }),
    onSuccess: (updated) => client.setQueryData(['settings', practice.id, 'practice'], updated),
  });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    save.mutate();
  };
  return (
    <Stack gap="md">
      <Text size="sm">
        Voicemail audio is kept encrypted for <strong>{practice.voicemailRetentionDays} days</strong>, then deleted. Call records and the audit log are kept.
      </Text>
      {admin ? (
        <form onSubmit={submit} aria-label="Voicemail retention" className="filters">
          <NumberInput label="Keep voicemail audio for (days)" min={1} max={3650} allowDecimal={false} value={days} onChange={setDays} error={fieldError(save.error, 'voicemailRetentionDays')} />
          <div className="filters-actions">
            <Button type="submit" loading={save.isPending} disabled={Number(days) === practice.voicemailRetentionDays}>
              Save retention
            </Button>
          </div>
        </form>
      ) : null}
      {save.isError && !fieldError(save.error, 'voicemailRetentionDays') ? <ErrorState error={save.error} title="Not saved" /> : null}
      {save.isSuccess ? (
        <Text size="sm" role="status">
          Saved.
        </Text>
      ) : null}
    </Stack>
  );
}
