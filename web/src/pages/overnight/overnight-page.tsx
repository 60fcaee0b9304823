import '../record-pages.css';
import { Link, useOutletContext, useSearchParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Anchor, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import type { CallOutcome, Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { QueryState } from '../../components/states';
import { when } from '../../components/format';
import { OUTCOME_LABELS } from '../calls';
import { REASON_LABELS } from '../callbacks/api';
import { consoleLink, fetchOvernight, type Counted, type OvernightReport } from './report';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The morning report (GET /api/reports/overnight): the night before the date the practice opened
 * on, in counts, each a link to the list behind it. The date is the only thing in the address.
 */
export function OvernightPage() {
  usePageTitle('Overnight');
  const session = useOutletContext<Session>();
  const [params, setParams] = useSearchParams();
  const asked = params.get('date') ?? '';
  const date = DATE.test(asked) ? asked : undefined;
  const report = useQuery({ queryKey: ['overnight', session.activePracticeId, date ?? 'latest'], queryFn: ({ signal }) => fetchOvernight(date, signal), retry: false });
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Overnight
      </Title>
      <TextInput
        label="The morning of"
        description="The report covers the night before the practice opened on this date; empty: the latest night."
        type="date"
        value={date ?? report.data?.date ?? ''}
        onChange={(e) => setParams(e.currentTarget.value ? new URLSearchParams({ date: e.currentTarget.value }) : new URLSearchParams())}
        className="report-date"
      />
      <QueryState query={report} loading="Loading the report" error="Could not load the report" />
      {report.data ? <Report r={report.data} /> : null}
    </Stack>
  );
}

/** A count: a link to its list when there is a page for it, the number alone otherwise. */
function Count({ label, c }: { label: string; c: Counted }) {
  const to = consoleLink(c.list);
  return (
    <div className="count">
      <dt>{label}</dt>
      <dd>
        {to ? (
          <Anchor component={Link} to={to} className="count-number" aria-label={`${label}: ${c.count}, show the list`}>
            {c.count}
          </Anchor>
        ) : (
          <span className="count-number">{c.count}</span>
        )}
      </dd>
    </div>
  );
}

function Block({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <Paper withBorder p="md" component="section" aria-label={title}>
      <Title order={2} size="h4" mb="xs">
        {title}
      </Title>
      <dl className="counts">{children}</dl>
    </Paper>
  );
}

function Report({ r }: { r: OvernightReport }) {
  const outcomes = Object.entries(r.calls.byOutcome).sort((a, b) => b[1].count - a[1].count);
  const reasons = Object.entries(r.calls.byReason).sort((a, b) => b[1].count - a[1].count);
  return (
    <Stack gap="md">
      <Text size="sm">
        From {when(r.period.start)} to {when(r.period.end)} ({r.period.timeZone}); callbacks as they stand at {when(r.asOf)}.
      </Text>
      <div className="report-grid">
        <Block title="Calls">
          <Count label="All calls" c={r.calls.total} />
          {outcomes.map(([o, c]) => (
            <Count key={o} label={OUTCOME_LABELS[o as CallOutcome] ?? (o === 'in_progress' ? 'Still going' : o)} c={c} />
          ))}
          <Count label="Fail-safe answers" c={r.failSafeAnswers} />
        </Block>
        <Block title="Callbacks">
          <Count label="Created overnight" c={r.tasks.created} />
          <Count label="Open" c={r.tasks.open} />
          <Count label="Claimed" c={r.tasks.claimed} />
          <Count label="Overdue" c={r.tasks.overdue} />
        </Block>
        <Block title="Voicemail">
          <Count label="Urgent" c={r.voicemails.urgent} />
          <Count label="Routine" c={r.voicemails.routine} />
          <Count label="Still to handle" c={r.voicemails.unheard} />
          <Count label="Heard" c={r.voicemails.heard} />
        </Block>
        <Block title="Problems">
          <Count label="Lockouts" c={r.lockouts} />
          <Count label="Failed pages" c={r.failedDeliveries.pages} />
          <Count label="Failed texts" c={r.failedDeliveries.sms} />
          <Count label="Failed drops" c={r.failedDeliveries.drops} />
        </Block>
        {reasons.length > 0 ? (
          <Block title="Why they called">
            {reasons.map(([reason, c]) => (
              <Count key={reason} label={REASON_LABELS[reason as keyof typeof REASON_LABELS] ?? reason} c={c} />
            ))}
          </Block>
        ) : null}
      </div>
      {r.tasks.urgentClaimed.length > 0 ? (
        <section aria-labelledby="urgent-claimed">
          <Title order={2} size="h4" id="urgent-claimed" mb="xs">
            Urgent callbacks taken
          </Title>
          <ul className="plain-list">
            {r.tasks.urgentClaimed.map((u) => (
              <li key={u.taskId}>
                <Anchor component={Link} to={`/callbacks/${u.taskId}`}>
                  {when(u.claimedAt)}
                </Anchor>{' '}
                by {u.name ?? u.assignee}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {r.pages.length > 0 ? (
        <section aria-labelledby="night-pages">
          <Title order={2} size="h4" id="night-pages" mb="xs">
            Pages
          </Title>
          <ul className="plain-list">
            {r.pages.map((p) => (
              <li key={p.pageId}>
                <Anchor component={Link} to={`/pages/${p.pageId}`}>
                  {when(p.createdAt)}
                </Anchor>{' '}
                {p.acknowledgedAt ? `acknowledged by ${p.name ?? p.acknowledgedBy ?? 'unknown'}, ${when(p.acknowledgedAt)}` : 'not acknowledged'}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </Stack>
  );
}
