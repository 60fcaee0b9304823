import type { ReactNode } from 'react';
import { Button, Group, Table } from '@mantine/core';
import { QueryState, type QueryLike } from './states';

/** A column: its header, how a row fills its cell, and the cell's class (`mono`, `break`) if any. */
export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  className?: string;
}

export interface DataTableProps<T> {
  /** What the rows are and their order, for screen readers (the caption is not shown). */
  caption: string;
  columns: ReadonlyArray<Column<T>>;
  rows: readonly T[];
  rowKey: (row: T) => string;
  /** Below this width the table scrolls sideways in its box rather than squeezing. */
  minWidth?: number;
  striped?: boolean;
}

/**
 * A list as a table: a caption for screen readers (what the rows are and their order), column
 * headers with their scope, scrolling sideways on a phone rather than squeezing.
 */
export function DataTable<T>({ caption, columns, rows, rowKey, minWidth = 700, striped = true }: DataTableProps<T>) {
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
                <Table.Td key={c.header} className={c.className}>
                  {c.cell(r)}
                </Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/**
 * A request's rows as a table, with the states every list shows (./states.tsx): loading, the
 * error with a retry, `emptyText` when the answer holds no row, else the table. A query that is
 * not asked yet (disabled: `fetchStatus` idle) shows nothing.
 */
export function QueryTable<T>({ query, rows, loading, error, emptyText, ...table }: Omit<DataTableProps<T>, 'rows'> & { query: QueryLike & { fetchStatus?: string }; rows: readonly T[] | undefined; loading: string; error: string; emptyText?: string }) {
  if (query.isPending && query.fetchStatus === 'idle') return null;
  return (
    <>
      <QueryState query={query} loading={loading} error={error} empty={rows?.length === 0} emptyText={emptyText} />
      {rows && rows.length > 0 ? <DataTable rows={rows} {...table} /> : null}
    </>
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
