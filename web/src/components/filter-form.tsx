import { useState, type FormEvent } from 'react';
import { Button, NativeSelect, TextInput } from '@mantine/core';
import type { Filters } from './url-filters';

/**
 * One field of a list's filter form. `date` takes a calendar date; a link may carry an instant
 * (the Overnight page's period, 2026-11-27T01:00:00.000Z), which is kept and shown as written
 * rather than dropped, so the list the link promised is the list shown.
 */
export type FilterField<K extends string> =
  | { key: K; label: string; kind: 'date' }
  | { key: K; label: string; kind: 'text' }
  | { key: K; label: string; kind: 'select'; options: ReadonlyArray<{ value: string; label: string }>; anyLabel?: string };

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Pure: the input type a date filter's value needs (a calendar date, or an instant kept as text). */
export function dateInputType(value: string | undefined): 'date' | 'text' {
  return value === undefined || value === '' || DATE_ONLY.test(value) ? 'date' : 'text';
}

/**
 * A list's filters as a form: labelled fields, Apply and Clear. The draft is the form's own until
 * applied; when the URL's filters change (a link, back), the parent remounts it with `key`.
 */
export function FilterForm<K extends string>({ label, fields, initial, onApply }: { label: string; fields: ReadonlyArray<FilterField<K>>; initial: Filters<K>; onApply: (filters: Filters<K>) => void }) {
  const [draft, setDraft] = useState<Filters<K>>(initial);
  const set = (key: K) => (e: { currentTarget: { value: string } }) => setDraft({ ...draft, [key]: e.currentTarget.value });
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    onApply(draft);
  };
  return (
    <form onSubmit={submit} aria-label={label} className="filters">
      {fields.map((f) =>
        f.kind === 'date' ? (
          <TextInput key={f.key} label={f.label} type={dateInputType(draft[f.key])} value={draft[f.key] ?? ''} onChange={set(f.key)} />
        ) : f.kind === 'text' ? (
          <TextInput key={f.key} label={f.label} value={draft[f.key] ?? ''} onChange={set(f.key)} autoComplete="off" spellCheck={false} />
        ) : (
          <NativeSelect key={f.key} label={f.label} value={draft[f.key] ?? ''} onChange={set(f.key)} data={[{ value: '', label: f.anyLabel ?? 'Any' }, ...f.options]} />
        ),
      )}
      <div className="filters-actions">
        <Button type="submit">Apply</Button>
        <Button
          variant="subtle"
          onClick={() => {
            setDraft({});
            onApply({});
          }}
        >
          Clear
        </Button>
      </div>
    </form>
  );
}
