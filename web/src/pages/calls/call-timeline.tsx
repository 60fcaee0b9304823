import '../record-pages.css';
import { Link, useOutletContext, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Anchor, Badge, Button, Group, Paper, Stack, Text, Title } from '@mantine/core';
import { activeRole } from '../../api/session';
import type { Session } from '../../api/types';
import { usePageTitle } from '../../components/page-title';
import { Empty, ErrorState, QueryState } from '../../components/states';
import { DataTable, type Column } from '../../components/data-table';
import { PhoneNumber } from '../../components/phone-number';
import { duration, when, whenExact } from '../../components/format';
import { VoicemailPlayer } from '../voicemail/player';
import { MATCH_LABELS, outcomeText } from '../calls';
import { CALL_SID, describeEntry, dialled, exportUrl, fetchCall, listens, menuSteps, verificationSteps, type CallView, type TimelineEntry } from './call-view';

const VERIFICATION_WORDS = { verified: 'Verified', failed: 'Failed', locked_out: 'Locked out', refused: 'Refused' } as const;

/**
 * One call (GET /api/calls/:callSid): what the caller did and what the service did, in order —
 * legs, menu path, verification (the outcome, never what was keyed), who was dialled and who
 * accepted, the recordings (streamed by the audio route) and who listened. Admins and auditors
 * export it as a file. The address holds the call's SID only; the title names no one.
 */
export function CallTimelinePage() {
  usePageTitle('Call');
  const { callSid = '' } = useParams();
  const session = useOutletContext<Session>();
  const role = activeRole(session);
  const valid = CALL_SID.test(callSid);
  const call = useQuery({ queryKey: ['call', session.activePracticeId, callSid], queryFn: ({ signal }) => fetchCall(callSid, signal), retry: false, enabled: valid });
  return (
    <Stack gap="md">
      <Anchor component={Link} to="/calls">
        Back to the calls
      </Anchor>
      <Group justify="space-between">
        <Title order={1} size="h2">
          Call
        </Title>
        {role === 'admin' || role === 'auditor' ? (
          // A plain download through the API (the session cookie goes with it): nothing is held in the page.
          <Button component="a" href={exportUrl(callSid)} download={`call-${callSid}.json`} variant="default">
            Export this call
          </Button>
        ) : null}
      </Group>
      {!valid ? <ErrorState error={new Error('not a call')} title="There is no such call" /> : <QueryState query={call} loading="Loading the call" error="Could not load the call" />}
      {call.data ? <CallDetail view={call.data} listensToAudio={role === 'admin' || role === 'staff' || role === 'provider'} /> : null}
    </Stack>
  );
}

function CallDetail({ view, listensToAudio }: { view: CallView; listensToAudio: boolean }) {
  const s = view.summary;
  const checks = verificationSteps(view.audit);
  const dials = dialled(view.legs);
  const heard = listens(view.audit);
  return (
    <>
      <Paper withBorder p="md">
        <dl className="facts">
          <dt>Started</dt>
          <dd>{when(s?.startedAt ?? view.call.createdAt)}</dd>
          <dt>Caller</dt>
          <dd>{s ? <PhoneNumber number={s.callerNumber} /> : '—'}</dd>
          <dt>Patient</dt>
          <dd>{s ? MATCH_LABELS[s.patient.match] : '—'}</dd>
          <dt>Menu path</dt>
          <dd>{s && s.path.length > 0 ? s.path.join(' → ') : '—'}</dd>
          <dt>Outcome</dt>
          <dd>
            {s ? outcomeText(s) : view.call.status}{' '}
            {s?.urgency === 'urgent' ? (
              <Badge color="red" size="sm">
                Urgent
              </Badge>
            ) : null}
          </dd>
          <dt>Length</dt>
          <dd>{duration(s?.durationSeconds ?? null)}</dd>
        </dl>
      </Paper>

      <section aria-labelledby="verification-heading">
        <Title order={2} size="h4" id="verification-heading" mb="xs">
          Verification
        </Title>
        {checks.length === 0 ? (
          <Empty>The caller was not asked to verify.</Empty>
        ) : (
          <ul className="plain-list">
            {checks.map((c) => (
              <li key={c.at + c.result}>
                {whenExact(c.at)}: {VERIFICATION_WORDS[c.result]}
                {c.attempt !== null ? ` (try ${c.attempt})` : ''}
                {c.reason ? ` — ${c.reason.replace(/_/g, ' ')}` : ''}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="dialled-heading">
        <Title order={2} size="h4" id="dialled-heading" mb="xs">
          Who was dialled
        </Title>
        {dials.length === 0 ? (
          <Empty>Nobody was dialled.</Empty>
        ) : (
          <DataTable
            caption="Dial legs, in order"
            minWidth={560}
            rows={dials}
            rowKey={(l) => `${l.legSid ?? ''}${l.at}`}
            columns={[
              { header: 'When', cell: (l) => whenExact(l.at) },
              { header: 'Tier', cell: (l) => (l.tier === null ? '—' : `${l.tier}${l.round !== null ? ` (round ${l.round})` : ''}`) },
              { header: 'Number', cell: (l) => <PhoneNumber number={l.numberTried} none="—" /> },
              { header: 'Outcome', cell: (l) => (l.accepted ? <Badge color="green">Accepted</Badge> : l.outcome) },
              { header: 'Length', cell: (l) => duration(l.durationSeconds) },
            ]}
          />
        )}
      </section>

      <section aria-labelledby="recordings-heading">
        <Title order={2} size="h4" id="recordings-heading" mb="xs">
          Recordings
        </Title>
        {!s || s.voicemailIds.length === 0 ? (
          <Empty>No recordings.</Empty>
        ) : (
          <Stack gap="xs">
            {s.voicemailIds.map((id, i) =>
              listensToAudio ? (
                <VoicemailPlayer key={id} id={id} label={`Recording ${i + 1} of this call`} />
              ) : (
                <Text key={id} size="sm">
                  Recording {i + 1} is on file (auditors see who listened, not the audio).
                </Text>
              ),
            )}
          </Stack>
        )}
        <Title order={3} size="h5" mt="sm" mb="xs">
          Who listened
        </Title>
        {heard.length === 0 ? (
          <Text size="sm" c="dimmed">
            Nobody has listened yet.
          </Text>
        ) : (
          <ul className="plain-list">
            {heard.map((l) => (
              <li key={l.at + l.actor}>
                {whenExact(l.at)}: <span className="mono">{l.actor}</span>
                {l.via ? ` (${l.via})` : ''}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="timeline-heading">
        <Title order={2} size="h4" id="timeline-heading" mb="xs">
          Timeline
        </Title>
        <DataTable caption="Everything recorded about the call, in order" columns={TIMELINE_COLUMNS} rows={view.timeline} rowKey={(t) => (t.kind === 'event' ? `e${t.seq}` : `${t.kind}${t.legSid ?? ''}${t.at}`)} minWidth={640} />
      </section>
    </>
  );
}

const TIMELINE_COLUMNS: ReadonlyArray<Column<TimelineEntry>> = [
  { header: 'When', cell: (t) => whenExact(t.at) },
  { header: 'What', cell: (t) => describeEntry(t) },
  {
    header: 'Detail',
    cell: (t) => menuSteps(t) ?? (t.kind === 'event' ? (t.leg ?? '') : <PhoneNumber number={t.numberTried} none="" />),
  },
  { header: 'Audit row', cell: (t) => (t.kind === 'event' ? <span className="mono">#{t.seq}</span> : '—') },
];
