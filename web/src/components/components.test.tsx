import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { afterEach, describe, expect, it } from 'vitest';
import { FilterForm, dateInputType, type FilterField } from './filter-form';
import { filtersOf, searchOf, useUrlFilters } from './url-filters';
import { showNumber } from './format';
import { PhoneNumber } from './phone-number';
import { queueOrder, type TaskSummary } from '../pages/callbacks/api';

afterEach(cleanup);

const KEYS = ['from', 'outcome', 'urgency'] as const;

describe('filter state and the URL', () => {
  it('reads only the keys a list knows, drops empty values, and writes them back in the same order', () => {
    const params = new URLSearchParams('urgency=urgent&name=Ann&outcome=&from=2026-11-01');
    const filters = filtersOf(params, KEYS);
    // A stray key (a name someone typed into the address bar) is never read, never written back.
    expect(filters).toEqual({ urgency: 'urgent', from: '2026-11-01' });
    expect(searchOf(filters, KEYS).toString()).toBe('from=2026-11-01&urgency=urgent');
    expect(searchOf({ outcome: '' }, KEYS).toString()).toBe('');
    expect(filtersOf(searchOf(filters, KEYS), KEYS)).toEqual(filters);
  });

  it("a date filter keeps an instant a link carried (shown as text) and takes a calendar date in the date picker", () => {
    expect(dateInputType(undefined)).toBe('date');
    expect(dateInputType('2026-11-27')).toBe('date');
    expect(dateInputType('2026-11-27T01:00:00.000Z')).toBe('text');
  });

  const FIELDS: ReadonlyArray<FilterField<(typeof KEYS)[number]>> = [
    { key: 'from', label: 'From', kind: 'date' },
    { key: 'urgency', label: 'Urgency', kind: 'select', options: [{ value: 'urgent', label: 'Urgent' }] },
  ];

  function Harness() {
    const [filters, apply] = useUrlFilters(KEYS);
    const location = useLocation();
    return (
      <>
        <FilterForm key={JSON.stringify(filters)} label="Filter" fields={FIELDS} initial={filters} onApply={apply} />
        <output data-testid="search">{location.search}</output>
      </>
    );
  }

  function renderAt(url: string) {
    return render(
      <MantineProvider env="test" withCssVariables={false} withGlobalClasses={false} forceColorScheme="light">
        <MemoryRouter initialEntries={[url]}>
          <Routes>
            <Route path="/calls" element={<Harness />} />
          </Routes>
        </MemoryRouter>
      </MantineProvider>,
    );
  }

  it('the form starts from the URL, Apply puts the draft in the URL, Clear empties it', () => {
    renderAt('/calls?urgency=urgent&from=2026-11-27T01:00:00.000Z');
    expect((screen.getByLabelText('Urgency') as HTMLSelectElement).value).toBe('urgent');
    const from = screen.getByLabelText('From') as HTMLInputElement;
    expect(from.value).toBe('2026-11-27T01:00:00.000Z');
    expect(from.type).toBe('text');
    fireEvent.change(screen.getByLabelText('Urgency'), { target: { value: '' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(screen.getByTestId('search').textContent).toBe('?from=2026-11-27T01%3A00%3A00.000Z');
    fireEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(screen.getByTestId('search').textContent).toBe('');
    expect((screen.getByLabelText('From') as HTMLInputElement).type).toBe('date');
  });
});

describe('numbers, masked or in full', () => {
  it('groups a North American number, keeps another E.164, says masked and withheld in words', () => {
    expect(showNumber('+12025550123')).toEqual({ kind: 'full', text: '+1 202-555-0123' });
    expect(showNumber('+442071838750')).toEqual({ kind: 'full', text: '+442071838750' });
    expect(showNumber('masked')).toEqual({ kind: 'masked', text: 'Masked' });
    expect(showNumber(null)).toEqual({ kind: 'none', text: 'Withheld' });
    expect(showNumber(null, 'Not given').text).toBe('Not given');
  });

  it('a masked number shows no digits at all', () => {
    const { container } = render(<PhoneNumber number="masked" />);
    expect(container.textContent).toBe('Masked');
    expect(container.textContent).not.toMatch(/\d/);
    cleanup();
    render(<PhoneNumber number="+12025550123" />);
    expect(screen.getByText('+1 202-555-0123').className).toBe('mono');
  });
});

describe('the callback queue order', () => {
  const task = (id: string, dueAt: string, overdue: boolean): TaskSummary => ({
    id,
    source: 'voicemail',
    sourceId: id,
    callSid: null,
    reason: 'clinical',
    urgency: 'routine',
    status: 'open',
    assignee: null,
    patient: { match: 'unknown', patientId: null },
    dueAt,
    overdue,
    attempts: 0,
    hasCallbackNumber: true,
    createdAt: dueAt,
    claimedAt: null,
    closedAt: null,
    closedBy: null,
  });

  it('puts every overdue task first, then the soonest due, ties by id', () => {
    const rows = [task('c', '2026-11-27T09:00:00Z', false), task('b', '2026-11-27T10:00:00Z', true), task('a', '2026-11-27T08:00:00Z', false), task('d', '2026-11-27T07:00:00Z', true), task('e', '2026-11-27T08:00:00Z', false)];
    expect(queueOrder(rows).map((t) => t.id)).toEqual(['d', 'b', 'a', 'e', 'c']);
    // The input is left as it was.
    expect(rows.map((t) => t.id)).toEqual(['c', 'b', 'a', 'd', 'e']);
  });
});
