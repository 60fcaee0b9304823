import '../practice-pages.css';
import { useOutletContext } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Stack, Tabs, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { ErrorState, Loading } from '../../components/states';
import { fetchPractice } from './api';
import { FlowsPanel } from './flows';
import { HoursPanel } from './hours';
import { BaasPanel, RetentionPanel } from './compliance';
import { ContactsPanel, KeysPanel, UsersPanel } from './people';
import { MatrixPanel } from './matrix';
import { SmsPanel } from './sms';

/**
 * Settings: hours and holidays (open or closed right now), lines and their flows, phone trees, the SMS Messaging Service,
 * contacts, the communication matrix, vendor agreements, retention, and for admins the people and API keys. Others see what they may read; the write
 * controls and admin tabs are hidden (the API refuses them anyway).
 */
export function SettingsPage() {
  usePageTitle('Settings');
  const session = useOutletContext<Session>();
  const role = activeRole(session);
  const admin = role === 'admin';
  // A provider's role does not read the vendor agreements (the API answers 403).
  const readsBaas = role !== 'provider';
  // Nor the communication matrix (admins change it; staff and auditors read it).
  const readsMatrix = role !== 'provider';
  const practiceId = session.activePracticeId ?? '';
  const practice = useQuery({ queryKey: ['settings', practiceId, 'practice'], queryFn: ({ signal }) => fetchPractice(practiceId, signal), retry: false, enabled: practiceId !== '' });

  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Settings
      </Title>
      <Tabs defaultValue="hours" keepMounted={false}>
        <Tabs.List className="settings-tabs">
          <Tabs.Tab value="hours">Hours</Tabs.Tab>
          <Tabs.Tab value="flows">Lines and phone trees</Tabs.Tab>
          <Tabs.Tab value="contacts">Contacts</Tabs.Tab>
          {readsMatrix ? <Tabs.Tab value="matrix">Communication matrix</Tabs.Tab> : null}
          {admin ? <Tabs.Tab value="users">People</Tabs.Tab> : null}
          {admin ? <Tabs.Tab value="keys">API keys</Tabs.Tab> : null}
          {readsBaas ? <Tabs.Tab value="baas">Vendor agreements</Tabs.Tab> : null}
          <Tabs.Tab value="retention">Retention</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="hours" pt="md">
          {practice.isPending ? <Loading label="Loading the practice" /> : null}
          {practice.isError ? <ErrorState error={practice.error} title="Could not load the practice" onRetry={() => void practice.refetch()} /> : null}
          {practice.data ? <HoursPanel practice={practice.data} admin={admin} /> : null}
        </Tabs.Panel>
        <Tabs.Panel value="flows" pt="md">
          <Stack gap="lg">
            <FlowsPanel practiceId={practiceId} admin={admin} />
            {practice.data ? <SmsPanel practice={practice.data} admin={admin} /> : null}
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="contacts" pt="md">
          <ContactsPanel practiceId={practiceId} admin={admin} />
        </Tabs.Panel>
        {readsMatrix ? (
          <Tabs.Panel value="matrix" pt="md">
            <MatrixPanel practiceId={practiceId} admin={admin} />
          </Tabs.Panel>
        ) : null}
        {admin ? (
          <Tabs.Panel value="users" pt="md">
            <UsersPanel />
          </Tabs.Panel>
        ) : null}
        {admin ? (
          <Tabs.Panel value="keys" pt="md">
            <KeysPanel practiceId={practiceId} />
          </Tabs.Panel>
        ) : null}
        {readsBaas ? (
          <Tabs.Panel value="baas" pt="md">
            <BaasPanel admin={admin} />
          </Tabs.Panel>
        ) : null}
        <Tabs.Panel value="retention" pt="md">
          {practice.isPending ? <Loading label="Loading the practice" /> : null}
          {practice.isError ? <ErrorState error={practice.error} title="Could not load the practice" onRetry={() => void practice.refetch()} /> : null}
          {practice.data ? <RetentionPanel practice={practice.data} admin={admin} /> : null}
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
