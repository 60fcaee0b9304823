import { useState, type FormEvent } from 'react';
import { ApiError } from '../api/errors';

/**
 * A form's submission: `action` (the API call), then `then` with its answer (where to go next);
 * busy while it runs, and the error it ended with (null once it is sent again).
 */
export function useSubmit<T>(action: () => Promise<T>, then: (value: T) => Promise<void>): { busy: boolean; error: unknown; submit: (event: FormEvent) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await then(await action());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

/** The service's message for one field of a refused form, if it named that field. */
export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.fieldProblem(field) : undefined;
}
