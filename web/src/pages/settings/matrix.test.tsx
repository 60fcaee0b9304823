import { useState } from 'react';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { afterEach, describe, expect, it } from 'vitest';
import { toApiError } from '../../api/errors';
import { MATRIX_CHANNELS, MESSAGE_TYPES, type Matrix, type MatrixAnswer } from './api';
import { MatrixTable, cellProblems } from './matrix';

afterEach(cleanup);

const open = (detail: 'none' | 'logistics' = 'none') => ({ allowed: true, detail });
const MATRIX = Object.fromEntries(MESSAGE_TYPES.map((t) => [t, Object.fromEntries(MATRIX_CHANNELS.map((c) => [c, open()]))])) as unknown as Matrix;
const LOCKED: MatrixAnswer['locked'] = [
  { type: 'staff_page', channel: 'voice', why: 'an urgent call must always be able to ring the on-call provider' },
  { type: 'staff_page', channel: 'sms', why: 'pages reach the on-call by SMS' },
];

/** The table as the panel holds it: a draft the cells change, shown back. */
function Harness({ editable, error }: { editable: boolean; error?: unknown }) {
  const [matrix, setMatrix] = useState<Matrix>(MATRIX);
  return (
    <MantineProvider env="test" withCssVariables={false} withGlobalClasses={false} forceColorScheme="light">
      <MatrixTable matrix={matrix} locked={LOCKED} editable={editable} problems={cellProblems(error)} onChange={(type, channel, cell) => setMatrix({ ...matrix, [type]: { ...matrix[type], [channel]: cell } })} />
      <output data-testid="draft">{JSON.stringify(matrix)}</output>
    </MantineProvider>
  );
}

const draft = (): Matrix => JSON.parse(screen.getByTestId('draft').textContent ?? '{}') as Matrix;

describe('the communication matrix table', () => {
  it('has a labelled checkbox and detail select for every message type × channel, under the channel and type headers', () => {
    render(<Harness editable />);
    const table = screen.getByRole('table', { name: /Communication matrix/ });
    expect(within(table).getAllByRole('checkbox')).toHaveLength(MESSAGE_TYPES.length * MATRIX_CHANNELS.length);
    expect(within(table).getAllByRole('combobox')).toHaveLength(MESSAGE_TYPES.length * MATRIX_CHANNELS.length);
    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Message type', 'SMS', 'Ringless voicemail', 'Voice call', 'E-mail']);
    expect(within(table).getAllByRole('rowheader')).toHaveLength(MESSAGE_TYPES.length);
    expect(screen.getByRole('checkbox', { name: 'Recall by E-mail: allowed' })).toBeTruthy();
    expect(screen.getByRole('combobox', { name: 'Recall by E-mail: detail' })).toBeTruthy();
  });

  it('an admin closes a cell and raises a detail; the draft changes in that cell only', () => {
    render(<Harness editable />);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Results ready by Ringless voicemail: allowed' }));
    fireEvent.change(screen.getByRole('combobox', { name: 'Recall by SMS: detail' }), { target: { value: 'logistics' } });
    const after = draft();
    expect(after.results_ready.rvm).toEqual({ allowed: false, detail: 'none' });
    expect(after.recall.sms).toEqual({ allowed: true, detail: 'logistics' });
    expect(after.recall.rvm).toEqual(open());
    expect((screen.getByRole('checkbox', { name: 'Results ready by Ringless voicemail: allowed' }) as HTMLInputElement).checked).toBe(false);
  });

  it('shows the locked cells disabled, with the reason tied to the checkbox', () => {
    render(<Harness editable />);
    const locked = screen.getByRole('checkbox', { name: 'Staff page by Voice call: allowed' }) as HTMLInputElement;
    expect(locked.disabled).toBe(true);
    expect(locked.checked).toBe(true);
    const note = document.getElementById(locked.getAttribute('aria-describedby') ?? '');
    expect(note?.textContent).toBe('Locked open: an urgent call must always be able to ring the on-call provider');
    fireEvent.click(locked);
    expect(draft().staff_page.voice.allowed).toBe(true);
    // Its detail may still change (only its "allowed" is locked); an ordinary cell is enabled.
    expect((screen.getByRole('combobox', { name: 'Staff page by Voice call: detail' }) as HTMLSelectElement).disabled).toBe(false);
    expect((screen.getByRole('checkbox', { name: 'Staff page by E-mail: allowed' }) as HTMLInputElement).disabled).toBe(false);
  });

  it('is read-only for anyone but an admin: every control disabled', () => {
    render(<Harness editable={false} />);
    const controls = [...screen.getAllByRole('checkbox'), ...screen.getAllByRole('combobox')] as Array<HTMLInputElement | HTMLSelectElement>;
    expect(controls.every((c) => c.disabled)).toBe(true);
  });

  it("names a refused save's problem next to its cell", () => {
    const refused = toApiError(400, { error: 'bad_request', message: 'staff_page.sms.allowed: staff_page × sms cannot be closed: pages reach the on-call by SMS; recall.email.detail: Invalid option' });
    expect([...cellProblems(refused).keys()]).toEqual(['staff_page.sms', 'recall.email']);
    render(<Harness editable error={refused} />);
    const box = screen.getByRole('checkbox', { name: 'Recall by E-mail: allowed' });
    expect(box.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(box.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Refused: Invalid option');
    const cell = box.closest('td');
    expect(cell?.getAttribute('data-cell')).toBe('recall.email');
    expect(within(cell as HTMLElement).getByText('Refused: Invalid option')).toBeTruthy();
    expect(screen.getByText(/^Refused: staff_page × sms cannot be closed/)).toBeTruthy();
    expect(cellProblems(new Error('network'))).toEqual(new Map());
  });
});
