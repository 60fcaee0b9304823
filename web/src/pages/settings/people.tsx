import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, CopyButton, Group, Modal, NativeSelect, Stack, Text, TextInput, Title } from '@mantine/core';
import { ApiError } from '../../api/errors';
import type { Role } from '../../api/types';
import { QueryTable, type Column } from '../../components/data-table';
import { ErrorState } from '../../components/states';
import { KEY_LIFETIMES, changeRole, createKey, deleteContact, disableUser, fetchContacts, fetchKeys, fetchUsers, inviteUser, putContact, revokeKey, type ApiKey, type Contact, type Member, type NewKey } from './api';

const ROLES: Role[] = ['admin', 'staff', 'provider', 'auditor'];
const fieldError = (err: unknown, field: string): string | undefined => (err instanceof ApiError ? err.fieldProblem(field) : undefined);
const day = (iso: string | null): string => (iso ? new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' }) : '—');

const CONTACT_COLUMNS: ReadonlyArray<Column<Contact>> = [
  { header: 'Key', cell: (c) => c.key, className: 'mono' },
  { header: 'Label', cell: (c) => c.label },
  { header: 'Number', cell: (c) => c.number, className: 'mono' },
];

const KEY_COLUMNS: ReadonlyArray<Column<ApiKey>> = [
  { header: 'Label', cell: (k) => k.label ?? <span className="mono">{k.id.slice(0, 8)}</span> },
  { header: 'Role', cell: (k) => k.role },
  { header: 'Status', cell: (k) => k.status },
  { header: 'Created', cell: (k) => day(k.createdAt) },
  { header: 'Expires', cell: (k) => day(k.expiresAt) },
  { header: 'Last used', cell: (k) => day(k.lastUsedAt) },
];

/** The numbers a phone tree may transfer to (a flow names them by key). */
export function ContactsPanel({ practiceId, admin }: { practiceId: string; admin: boolean }) {
  const client = useQueryClient();
  const contacts = useQuery({ queryKey: ['settings', practiceId, 'contacts'], queryFn: ({ signal }) => fetchContacts(practiceId, signal), retry: false });
  const [draft, setDraft] = useState({ key: '', label: '', number: '' });
  const refresh = (): void => void client.invalidateQueries({ queryKey: ['settings', practiceId, 'contacts'] });
  const save = useMutation({ mutationFn: () => putContact(practiceId, draft.key, { label: draft.label, number: draft.number }), onSuccess: () => (setDraft({ key: '', label: '', number: '' }), refresh()) });
  const remove = useMutation({ mutationFn: (key: string) => deleteContact(practiceId, key), onSuccess: refresh });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    save.mutate();
  };
  return (
    <Stack gap="md">
      <QueryTable
        query={contacts}
        loading="Loading contacts"
        error="Could not load the contacts"
        emptyText="No contacts yet."
        caption="Contacts"
        columns={
          admin
            ? [
                ...CONTACT_COLUMNS,
                {
                  header: 'Actions',
                  cell: (c: Contact) => (
                    <Button size="xs" variant="subtle" color="red" onClick={() => remove.mutate(c.key)} aria-label={`Delete contact ${c.key}`}>
                      Delete
                    </Button>
                  ),
                },
              ]
            : CONTACT_COLUMNS
        }
        rows={contacts.data?.contacts}
        rowKey={(c) => c.key}
        minWidth={420}
        striped={false}
      />
      {remove.isError ? <ErrorState error={remove.error} title="Not deleted" /> : null}
      {admin ? (
        <form onSubmit={submit} aria-label="Add or change a contact" className="filters">
          <TextInput label="Key" description="a-z, 0-9, _" required value={draft.key} onChange={(e) => setDraft({ ...draft, key: e.currentTarget.value })} error={fieldError(save.error, 'key')} />
          <TextInput label="Label" required value={draft.label} onChange={(e) => setDraft({ ...draft, label: e.currentTarget.value })} error={fieldError(save.error, 'label')} />
          <TextInput label="Number" placeholder="+13125550175" required value={draft.number} onChange={(e) => setDraft({ ...draft, number: e.currentTarget.value })} error={fieldError(save.error, 'number')} />
          <div className="filters-actions">
            <Button type="submit" loading={save.isPending}>
              Save contact
            </Button>
          </div>
        </form>
      ) : null}
    </Stack>
  );
}

/** The practice's people: invite, change a role (they sign in again), disable. Admins only. */
export function UsersPanel() {
  const client = useQueryClient();
  const users = useQuery({ queryKey: ['settings', 'users'], queryFn: ({ signal }) => fetchUsers(signal), retry: false });
  const [invite, setInvite] = useState<{ email: string; role: Role }>({ email: '', role: 'staff' });
  const refresh = (): void => void client.invalidateQueries({ queryKey: ['settings', 'users'] });
  const send = useMutation({ mutationFn: () => inviteUser(invite), onSuccess: refresh });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    send.mutate();
  };
  return (
    <Stack gap="md">
      <QueryTable
        query={users}
        loading="Loading people"
        error="Could not load the people"
        caption="People in this practice"
        columns={USER_COLUMNS(refresh)}
        rows={users.data?.users}
        rowKey={(u) => u.userId}
        minWidth={620}
        striped={false}
      />
      <Title order={3} size="h4">
        Invite someone
      </Title>
      <form onSubmit={submit} aria-label="Invite someone" className="filters">
        <TextInput label="E-mail" type="email" required value={invite.email} onChange={(e) => setInvite({ ...invite, email: e.currentTarget.value })} error={fieldError(send.error, 'email')} />
        <NativeSelect label="Role" value={invite.role} onChange={(e) => setInvite({ ...invite, role: e.currentTarget.value as Role })} data={ROLES} />
        <div className="filters-actions">
          <Button type="submit" loading={send.isPending}>
            Send invitation
          </Button>
        </div>
      </form>
      {send.isError ? <ErrorState error={send.error} title="Not invited" /> : null}
      {send.data ? (
        <Alert color="green" role="status" title="Invited">
          {send.data.emailed ? 'The invitation was e-mailed.' : 'Give them this link (it is shown once):'}
          {!send.data.emailed ? <TextInput readOnly aria-label="Invitation link" value={send.data.link} mt={4} onFocus={(e) => e.currentTarget.select()} /> : null}
        </Alert>
      ) : null}
    </Stack>
  );
}

/** The people table's columns; `onChanged` re-reads the list after a change of role or a disabling. */
const USER_COLUMNS = (onChanged: () => void): ReadonlyArray<Column<Member>> => [
  { header: 'Name', cell: (u) => u.displayName },
  { header: 'E-mail', cell: (u) => u.email, className: 'break' },
  { header: 'Role', cell: (u) => <RoleCell user={u} onChanged={onChanged} /> },
  {
    header: 'Status',
    cell: (u) => (
      <>
        <Badge color={u.status === 'active' ? 'green' : 'gray'} variant="light">
          {u.status}
        </Badge>
        {u.status === 'active' && !u.totpEnabled ? (
          <Text size="xs" c="dimmed">
            no authenticator yet
          </Text>
        ) : null}
      </>
    ),
  },
  { header: 'Actions', cell: (u) => <DisableCell user={u} onChanged={onChanged} /> },
];

/** A person's role, changed here while they are active (they then sign in again). */
function RoleCell({ user, onChanged }: { user: Member; onChanged: () => void }) {
  const [role, setRole] = useState<Role>(user.role);
  const change = useMutation({ mutationFn: () => changeRole(user.userId, role), onSuccess: onChanged });
  return (
    <>
      {user.status === 'active' ? (
        <Group gap={4} wrap="nowrap">
          <NativeSelect size="xs" aria-label={`Role of ${user.email}`} value={role} onChange={(e) => setRole(e.currentTarget.value as Role)} data={ROLES} />
          <Button size="xs" variant="default" disabled={role === user.role} loading={change.isPending} onClick={() => change.mutate()}>
            Change
          </Button>
        </Group>
      ) : (
        user.role
      )}
      {change.isError ? <Text size="xs" c="red">{change.error.message}</Text> : null}
    </>
  );
}

/** Disabling an active person. */
function DisableCell({ user, onChanged }: { user: Member; onChanged: () => void }) {
  const disable = useMutation({ mutationFn: () => disableUser(user.userId), onSuccess: onChanged });
  return (
    <>
      {user.status === 'active' ? (
        <Button size="xs" variant="subtle" color="red" loading={disable.isPending} onClick={() => disable.mutate()} aria-label={`Disable ${user.email}`}>
          Disable
        </Button>
      ) : null}
      {disable.isError ? <Text size="xs" c="red">{disable.error.message}</Text> : null}
    </>
  );
}

/**
 * The practice's API keys (never the key itself): create one (its secret shown once, in a dialog,
 * held in this component's state only and dropped when the dialog closes), and revoke.
 */
export function KeysPanel({ practiceId }: { practiceId: string }) {
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ['settings', practiceId, 'keys'], queryFn: ({ signal }) => fetchKeys(practiceId, signal), retry: false });
  const refresh = (): void => void client.invalidateQueries({ queryKey: ['settings', practiceId, 'keys'] });
  const revoke = useMutation({ mutationFn: (keyId: string) => revokeKey(practiceId, keyId), onSuccess: refresh });
  const [draft, setDraft] = useState<{ label: string; role: Role; expiresIn: NewKey['expiresIn'] }>({ label: '', role: 'staff', expiresIn: '1y' });
  // The secret lives here until the dialog closes: never in a URL, storage or the query cache.
  const [shown, setShown] = useState<{ secret: string; label: string } | null>(null);
  const create = useMutation({
    // The secret goes straight to the dialog's state; the mutation keeps only the key's summary (no copy lingers in its cache).
    mutationFn: async () => {
      const made = await createKey(practiceId, { role: draft.role, expiresIn: draft.expiresIn, ...(draft.label.trim() !== '' ? { label: draft.label.trim() } : {}) });
      setShown({ secret: made.secret, label: made.key.label ?? made.key.id.slice(0, 8) });
      return made.key;
    },
    onSuccess: () => {
      setDraft({ label: '', role: 'staff', expiresIn: '1y' });
      refresh();
    },
  });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Stack gap="md">
      <Title order={3} size="h4">
        Create a key
      </Title>
      <form onSubmit={submit} aria-label="Create an API key" className="filters">
        <TextInput label="Label" description="What uses it (letters, digits, spaces, . _ -)" maxLength={80} value={draft.label} onChange={(e) => setDraft({ ...draft, label: e.currentTarget.value })} error={fieldError(create.error, 'label')} />
        <NativeSelect label="Role" value={draft.role} onChange={(e) => setDraft({ ...draft, role: e.currentTarget.value as Role })} data={ROLES} error={fieldError(create.error, 'role')} />
        <NativeSelect
          label="Expires"
          value={draft.expiresIn}
          onChange={(e) => setDraft({ ...draft, expiresIn: e.currentTarget.value as NewKey['expiresIn'] })}
          data={KEY_LIFETIMES.map((l) => ({ value: l.value, label: l.label }))}
          error={fieldError(create.error, 'expiresIn')}
        />
        <div className="filters-actions">
          <Button type="submit" loading={create.isPending}>
            Create key
          </Button>
        </div>
      </form>
      {create.isError ? <ErrorState error={create.error} title="No key was made" /> : null}
      {/* lockScroll off: the scroll lock injects a <style> element, which the CSP (style-src 'self') refuses. */}
      <Modal opened={shown !== null} onClose={() => setShown(null)} title="Copy this key now" centered closeOnClickOutside={false} lockScroll={false} closeButtonProps={{ 'aria-label': 'Close' }}>
        {shown ? (
          <Stack gap="sm">
            <Text size="sm">
              This is the only time the key <strong>{shown.label}</strong> is shown. Store it where the program that uses it reads its secrets; it cannot be shown again (revoke it and make another if it is lost).
            </Text>
            <TextInput readOnly label="The new API key" value={shown.secret} className="mono" onFocus={(e) => e.currentTarget.select()} />
            <Group justify="flex-end">
              <CopyButton value={shown.secret}>
                {({ copied, copy }) => (
                  <Button variant="default" onClick={copy}>
                    {copied ? 'Copied' : 'Copy the key'}
                  </Button>
                )}
              </CopyButton>
              <Button onClick={() => setShown(null)}>I have stored it</Button>
            </Group>
          </Stack>
        ) : null}
      </Modal>
      <Title order={3} size="h4">
        Keys
      </Title>
      <QueryTable
        query={keys}
        loading="Loading API keys"
        error="Could not load the API keys"
        emptyText="No API keys."
        caption="API keys"
        columns={[
          ...KEY_COLUMNS,
          {
            header: 'Actions',
            cell: (k: ApiKey) =>
              k.status === 'active' ? (
                <Button size="xs" variant="subtle" color="red" onClick={() => revoke.mutate(k.id)} aria-label={`Revoke key ${k.label ?? k.id.slice(0, 8)}`}>
                  Revoke
                </Button>
              ) : null,
          },
        ]}
        rows={keys.data?.keys}
        rowKey={(k) => k.id}
        minWidth={640}
        striped={false}
      />
      {revoke.isError ? <ErrorState error={revoke.error} title="Not revoked" /> : null}
    </Stack>
  );
}
