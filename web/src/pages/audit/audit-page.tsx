import '../record-pages.css';
import { useState } from 'react';
import { Link, useOutletContext } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Anchor, Badge, Button, Group, Paper, Stack, Text, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { ErrorState, Loading, QueryState } from '../../components/states';
import { DataTable, type Column } from '../../components/data-table';
import { FilterForm, type FilterField } from '../../components/filter-form';
import { useUrlFilters } from '../../components/url-filters';
import { whenExact } from '../../components/format';
import { CALL_SID, exportUrl, type AuditEvent } from '../calls/call-view';
import { ACTION_FAMILIES, AUDIT_FILTERS, SEARCH_LIMIT, auditExportUrl, searchAudit, verdictText, verifyAuditChain } from './audit-api';

const FIELDS: ReadonlyArray<FilterField<(typeof AUDIT_FILTERS)[number]>> = [
  { key: 'action', label: 'Type', kind: 'select', options: ACTION_FAMILIES },
  { key: 'actor', label: 'Actor (user:… or api_key:…)', kind: 'text' },
  { key: 'callSid', label: 'Call (CA…)', kind: 'text' },
  { key: 'from', label: 'From', kind: 'date' },
  { key: 'to', label: 'To', kind: 'date' },
];

/**
 * The practice's audit log (admins and auditors): search it by type, actor, dates and call;
 * reconstruct a call (its events here, its timeline a link away) and export it; export the
 * whole search (CSV or NDJSON, a plain download link); check the chain. The search's terms are codes and ids only, so they may sit in the address bar.
 */
export function AuditPage() {
  usePageTitle('Audit');
  const session = useOutletContext<Session>();
  const role = activeRole(session);
  const [filters, apply] = useUrlFilters(AUDIT_FILTERS);
  const events = useQuery({ queryKey: ['audit', session.activePracticeId, filters], queryFn: ({ signal }) => searchAudit(filters, signal), retry: false, enabled: role === 'admin' || role === 'auditor' });
  const rows = events.data?.events ?? [];
  const call = filters.callSid && CALL_SID.test(filters.callSid) ? filters.callSid : null;
  if (role !== 'admin' && role !== 'auditor') {
    return (
      <Stack gap="md">
        <Title order={1} size="h2">
          Audit
        </Title>
        <Text>The audit log is for admins and auditors.</Text>
      </Stack>
    );
  }
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Audit
      </Title>
      <ChainCheck />
      <FilterForm key={JSON.stringify(filters)} label="Search the audit log" fields={FIELDS} initial={filters} onApply={apply} />
      <Group gap="xs" aria-label="Export this search" role="group">
        <Text size="sm">Every event of this search, not only those shown:</Text>
        <Button component="a" href={auditExportUrl(filters, 'csv')} download variant="default" size="xs">
          Export this search (CSV)
        </Button>
        <Button component="a" href={auditExportUrl(filters, 'ndjson')} download variant="default" size="xs">
          Export this search (NDJSON)
        </Button>
      </Group>
      {call ? (
        <Paper withBorder p="md" component="section" aria-labelledby="reconstruction-heading">
          <Title order={2} size="h4" id="reconstruction-heading" mb="xs">
            Reconstruction of one call
          </Title>
          <Text size="sm" mb="xs">
            Below: every audit event of the call <span className="mono">{call}</span>, newest first.
          </Text>
          <Group>
            <Button component={Link} to={`/calls/${call}`} variant="light">
              Open the call's timeline
            </Button>
            <Button component="a" href={exportUrl(call)} download={`call-${call}.json`} variant="default">
              Export this call
            </Button>
          </Group>
        </Paper>
      ) : null}
      <QueryState query={events} loading="Searching the audit log" error="Could not search the audit log" empty={rows.length === 0} emptyText="No events match." />
      {rows.length > 0 ? (
        <>
          <Text size="sm" c="dimmed">
            {rows.length === SEARCH_LIMIT ? `The newest ${SEARCH_LIMIT} events; narrow the search for older ones.` : `${rows.length} events, newest first.`}
          </Text>
          <DataTable caption="Audit events, newest first" columns={COLUMNS} rows={rows} rowKey={(e) => `${e.chain ?? ''}${e.seq}`} minWidth={900} />
        </>
      ) : null}
    </Stack>
  );
}

/** The chain's verification, run when asked (it walks the whole chain; the server bounds it and audits it). */
function ChainCheck() {
  const [asked, setAsked] = useState(0);
  const verdict = useQuery({ queryKey: ['audit-verify', asked], queryFn: ({ signal }) => verifyAuditChain(signal), enabled: asked > 0, retry: false, gcTime: 0 });
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="chain-heading">
      <Title order={2} size="h4" id="chain-heading" mb="xs">
        The chain's verification
      </Title>
      <div className="chain-status" aria-live="polite">
        {verdict.data ? (
          <>
            <Badge color={verdict.data.ok ? 'green' : 'red'} size="lg">
              {verdict.data.ok ? (verdict.data.truncated ? 'Verified in part' : 'Verified') : 'Broken'}
            </Badge>
            <Text size="sm">
              {verdictText(verdict.data)} Checked {whenExact(verdict.data.verifiedAt)}.
            </Text>
          </>
        ) : asked === 0 ? (
          <Text size="sm">Every row of the practice's chain is checked against the one before it and the checkpoints.</Text>
        ) : null}
        {verdict.isFetching ? <Loading label="Verifying the chain" /> : null}
        {verdict.isError ? <ErrorState error={verdict.error} title="Could not verify the chain" /> : null}
        <Button variant="default" onClick={() => setAsked(asked + 1)} loading={verdict.isFetching}>
          {asked === 0 ? 'Verify the chain' : 'Verify again'}
        </Button>
      </div>
    </Paper>
  );
}

function details(e: AuditEvent): string {
  const text = JSON.stringify(e.details);
  return text === '{}' ? '' : text.length > 240 ? `${text.slice(0, 240)}…` : text;
}

const COLUMNS: ReadonlyArray<Column<AuditEvent>> = [
  { header: 'Row', cell: (e) => <span className="mono">#{e.seq}</span> },
  { header: 'When', cell: (e) => whenExact(e.at) },
  { header: 'Type', cell: (e) => <span className="mono">{e.action}</span> },
  { header: 'Actor', cell: (e) => <span className="mono">{e.actor}</span> },
  {
    header: 'Call',
    cell: (e) =>
      e.callSid ? (
        <Anchor component={Link} to={`/audit?callSid=${e.callSid}`} aria-label={`Reconstruct the call of row ${e.seq}`}>
          Reconstruct
        </Anchor>
      ) : (
        '—'
      ),
  },
  { header: 'Details', cell: (e) => <span className="details-cell">{details(e)}</span> },
];
