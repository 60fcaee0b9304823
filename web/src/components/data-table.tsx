import type { ReactNode } from 'react';
import { Button, Group, Table } from '@mantine/core';

/** A column: its header and how a row fills its cell. */
export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
}

/**
 * A list as a table: a caption for screen readers (what the rows are and their order), column
 * headers with their scope, scrolling sideways on a phone rather than squeezing.
 */
export function DataTable<T>({ caption, columns, rows, rowKey, minWidth = 700, striped = true }: { caption: string; columns: ReadonlyArray<Column<T>>; rows: readonly T[]; rowKey: (row: T) => string; minWidth?: number; striped?: boolean }) {
  return (
    // What scrolls sideways (on a phone) is reachable by keyboard; the table inside says what it is (its caption).
    <Table.ScrollContainer type="native" minWidth={minWidth} tabIndex={0}>
      <Table striped={striped} highlightOnHover={striped} captionSide="top">
        <Table.Caption className="visually-hidden">{caption}</Table.Caption>
        <Table.Thead>
          <Table.Tr>
            {columns.map((c) => (
              <Table.Th key={c.header} scope="col">
                {c.header}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((r) => (
            <Table.Tr key={rowKey(r)}>
              {columns.map((c) => (
                <Table.Td key={c.header}>{c.cell(r)}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** The server's next page, on request (lists paginate on the server). */
export function LoadMore({ hasMore, loading, onMore }: { hasMore: boolean; loading: boolean; onMore: () => void }) {
  if (!hasMore) return null;
  return (
    <Group justify="center">
      <Button variant="default" onClick={onMore} loading={loading}>
        Load more
      </Button>
    </Group>
  );
}
