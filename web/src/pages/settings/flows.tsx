import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Card, Group, NativeSelect, Stack, Text, Textarea, Title } from '@mantine/core';
import { ApiError } from '../../api/errors';
import { Empty, ErrorState, Loading } from '../../components/states';
import { activateFlow, fetchBuiltInSource, fetchFlows, fetchVersion, rollBack, uploadFlow, type FlowProblem, type Flows } from './api';

/** A flow as one value of a select: `after-hours` (built in) or `riverside@3` (the practice's version 3). */
function flowValue(flowId: string, version: number | null): string {
  return version === null ? flowId : `${flowId}@${version}`;
}
function parseFlowValue(value: string): { flowId: string; version: number | null } {
  const at = value.lastIndexOf('@');
  return at < 0 ? { flowId: value, version: null } : { flowId: value.slice(0, at), version: Number(value.slice(at + 1)) };
}

function flowChoices(flows: Flows): Array<{ value: string; label: string }> {
  return [
    ...flows.builtIn.map((f) => ({ value: flowValue(f.flowId, null), label: `${f.flowId} (built in)` })),
    ...flows.own.flatMap((f) => f.versions.map((v) => ({ value: flowValue(f.flowId, v.version), label: `${f.flowId} version ${v.version}` }))),
  ];
}

/** Lines and the flow each runs (activate, roll back), the phone trees' sources, and a new version's upload. */
export function FlowsPanel({ practiceId, admin }: { practiceId: string; admin: boolean }) {
  const flows = useQuery({ queryKey: ['settings', practiceId, 'flows'], queryFn: ({ signal }) => fetchFlows(practiceId, signal), retry: false });
  const [viewing, setViewing] = useState<string | null>(null);
  if (flows.isPending) return <Loading label="Loading lines and flows" />;
  if (flows.isError) return <ErrorState error={flows.error} title="Could not load the lines and flows" onRetry={() => void flows.refetch()} />;
  const choices = flowChoices(flows.data);
  return (
    <Stack gap="lg">
      <section aria-labelledby="lines-heading">
        <Title order={2} size="h3" id="lines-heading" mb="xs">
          Lines
        </Title>
        {flows.data.lines.length === 0 ? <Empty>No lines yet.</Empty> : null}
        <Stack gap="xs">
          {flows.data.lines.map((l) => (
            <LineCard key={l.e164} practiceId={practiceId} line={l} choices={choices} admin={admin} />
          ))}
        </Stack>
      </section>
      <section aria-labelledby="trees-heading">
        <Title order={2} size="h3" id="trees-heading" mb="xs">
          Phone trees
        </Title>
        <NativeSelect label="View a flow's source" value={viewing ?? ''} onChange={(e) => setViewing(e.currentTarget.value || null)} data={[{ value: '', label: 'Choose a flow' }, ...choices]} />
        {viewing ? <FlowSource practiceId={practiceId} value={viewing} /> : null}
      </section>
      {admin ? <UploadFlow practiceId={practiceId} /> : null}
    </Stack>
  );
}

function LineCard({ practiceId, line, choices, admin }: { practiceId: string; line: Flows['lines'][number]; choices: Array<{ value: string; label: string }>; admin: boolean }) {
  const client = useQueryClient();
  const current = flowValue(line.flowId, line.version);
  const [chosen, setChosen] = useState(current);
  const refresh = (): void => void client.invalidateQueries({ queryKey: ['settings', practiceId, 'flows'] });
  const activate = useMutation({ mutationFn: () => activateFlow(practiceId, line.e164, parseFlowValue(chosen)), onSuccess: refresh });
  const back = useMutation({ mutationFn: () => rollBack(practiceId, line.e164), onSuccess: refresh });
  return (
    <Card withBorder padding="sm">
      <Group justify="space-between" wrap="wrap">
        <div>
          <Text fw={600} className="mono">
            {line.e164}
          </Text>
          <Text size="sm">
            Runs <strong>{line.flowId}</strong> {line.version === null ? <Badge size="xs">built in</Badge> : `version ${line.version}`}
          </Text>
        </div>
        {admin ? (
          <Group gap="xs" align="flex-end" wrap="wrap">
            <NativeSelect size="xs" label={`Flow for ${line.e164}`} value={chosen} onChange={(e) => setChosen(e.currentTarget.value)} data={choices} />
            <Button size="xs" disabled={chosen === current} loading={activate.isPending} onClick={() => activate.mutate()}>
              Activate
            </Button>
            <Button size="xs" variant="default" loading={back.isPending} onClick={() => back.mutate()}>
              Roll back
            </Button>
          </Group>
        ) : null}
      </Group>
      {activate.isError ? <ErrorState error={activate.error} title="Not activated" /> : null}
      {back.isError ? <ErrorState error={back.error} title="Not rolled back" /> : null}
    </Card>
  );
}

function FlowSource({ practiceId, value }: { practiceId: string; value: string }) {
  const { flowId, version } = parseFlowValue(value);
  const source = useQuery({
    queryKey: ['settings', practiceId, 'flow-source', value],
    queryFn: async ({ signal }) => (version === null ? fetchBuiltInSource(flowId, signal) : (await fetchVersion(practiceId, flowId, version, signal)).source),
    retry: false,
  });
  if (source.isPending) return <Loading label="Loading the flow" />;
  if (source.isError) return <ErrorState error={source.error} title="Could not load the flow" />;
  return (
    <pre className="flow-source" tabIndex={0} aria-label={`Source of ${value}`}>
      {source.data}
    </pre>
  );
}

/** Upload a new version: the service checks it as it checks the built-in flows, and refuses it with every problem named. */
function UploadFlow({ practiceId }: { practiceId: string }) {
  const client = useQueryClient();
  const [format, setFormat] = useState<'yaml' | 'json'>('yaml');
  const [source, setSource] = useState('');
  const upload = useMutation({ mutationFn: () => uploadFlow(practiceId, { format, source }), onSuccess: () => void client.invalidateQueries({ queryKey: ['settings', practiceId, 'flows'] }) });
  const problems = upload.error instanceof ApiError && upload.error.code === 'invalid_flow' ? ((upload.error.body as { problems?: FlowProblem[] } | undefined)?.problems ?? []) : [];
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    upload.mutate();
  };
  return (
    <section aria-labelledby="upload-heading">
      <Title order={2} size="h3" id="upload-heading" mb="xs">
        Upload a new version
      </Title>
      <form onSubmit={submit} aria-label="Upload a flow">
        <Stack gap="sm">
          <Text size="sm">Start from a built-in flow's source (above), change its id and nodes, then upload: the flow is checked before it is stored, and runs on a line only once you activate it.</Text>
          <NativeSelect
            label="Format"
            value={format}
            onChange={(e) => setFormat(e.currentTarget.value as 'yaml' | 'json')}
            data={[
              { value: 'yaml', label: 'YAML' },
              { value: 'json', label: 'JSON' },
            ]}
          />
          <Textarea label="Flow source" required rows={10} value={source} onChange={(e) => setSource(e.currentTarget.value)} classNames={{ input: 'mono-input' }} />
          <Group>
            <Button type="submit" loading={upload.isPending} disabled={source.trim() === ''}>
              Check and upload
            </Button>
          </Group>
        </Stack>
      </form>
      {problems.length > 0 ? (
        <Alert color="red" title={upload.error instanceof Error ? upload.error.message : 'Refused'} role="alert" mt="xs">
          <ul className="field-problems">
            {problems.map((p, i) => (
              <li key={i}>
                {p.node ? <strong>{p.node}: </strong> : null}
                {p.message}
              </li>
            ))}
          </ul>
        </Alert>
      ) : upload.isError ? (
        <ErrorState error={upload.error} title="Not uploaded" />
      ) : null}
      {upload.isSuccess ? (
        <Alert color="green" role="status" mt="xs" title="Uploaded">
          Stored as {upload.data.flowId} version {upload.data.version}. Activate it on a line above.
        </Alert>
      ) : null}
    </section>
  );
}
