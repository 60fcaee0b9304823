import { Alert, Table, Text, Title } from '@mantine/core';
import { reasonText, type DryRun } from './api';

/** The dry run's answer: recipients, who would get a drop now, later (and why), never (and why). */
export function DryRunReport({ report }: { report: DryRun }) {
  const rows = [
    ...Object.entries(report.deferred).map(([reason, n]) => ({ when: 'later', reason, n: n ?? 0 })),
    ...Object.entries(report.excluded).map(([reason, n]) => ({ when: 'never', reason, n: n ?? 0 })),
  ];
  return (
    <section aria-labelledby="dry-run-heading">
      <Title order={2} size="h4" id="dry-run-heading" mb="xs">
        Dry run
      </Title>
      <Text size="sm" role="status">
        {report.recipients} recipients: {report.eligibleNow} would get a drop now.
      </Text>
      {report.notices.map((n) => (
        <Alert key={n} color="yellow" mt="xs">
          {n}
        </Alert>
      ))}
      {rows.length > 0 ? (
        <Table captionSide="top">
          <Table.Caption className="visually-hidden">Recipients who would not get a drop now, and why</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">Reason</Table.Th>
              <Table.Th scope="col">Drop</Table.Th>
              <Table.Th scope="col">Recipients</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((r) => (
              <Table.Tr key={`${r.when}-${r.reason}`}>
                <Table.Td>{reasonText(r.reason)}</Table.Td>
                <Table.Td>{r.when}</Table.Td>
                <Table.Td>{r.n}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
    </section>
  );
}
