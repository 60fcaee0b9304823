import { Alert, Button, Center, Loader, Stack, Text } from '@mantine/core';
import { ApiError, describeError } from '../api/errors';

/** Every request's loading state: announced to screen readers, the same everywhere. */
export function Loading({ label = 'Loading' }: { label?: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Stack align="center" gap="xs">
        <Loader size="sm" aria-hidden="true" />
        <Text size="sm" c="dimmed">
          {label}…
        </Text>
      </Stack>
    </Center>
  );
}

/** Every request's error state: what went wrong in words for people, and a way to try again. */
export function ErrorState({ error, onRetry, title = 'Something went wrong' }: { error: unknown; onRetry?: () => void; title?: string }) {
  const fields = error instanceof ApiError ? error.fields.filter((f) => f.field !== 'request') : [];
  return (
    <Alert color="red" title={title} role="alert">
      <Stack gap="xs">
        {fields.length > 0 ? (
          <ul className="field-problems">
            {fields.map((f) => (
              <li key={f.field}>
                <strong>{f.field}</strong>: {f.problem}
              </li>
            ))}
          </ul>
        ) : (
          <Text size="sm">{describeError(error)}</Text>
        )}
        {onRetry ? (
          <div>
            <Button size="xs" variant="light" color="red" onClick={onRetry}>
              Try again
            </Button>
          </div>
        ) : null}
      </Stack>
    </Alert>
  );
}

/** An empty list, said as such (not a blank page). */
export function Empty({ children }: { children: React.ReactNode }) {
  return (
    <Text c="dimmed" py="lg" ta="center">
      {children}
    </Text>
  );
}

/** What QueryState reads of a TanStack query. */
export interface QueryLike {
  isPending: boolean;
  isError: boolean;
  isSuccess: boolean;
  error: unknown;
  refetch: () => unknown;
}

/**
 * A request's three states said the same way on every page: loading, its error with a retry,
 * and, once answered, "nothing" when `empty` holds. What was found is the caller's to show.
 */
export function QueryState({ query, loading, error, empty, emptyText }: { query: QueryLike; loading: string; error: string; empty?: boolean; emptyText?: string }) {
  if (query.isPending) return <Loading label={loading} />;
  if (query.isError) return <ErrorState error={query.error} title={error} onRetry={() => void query.refetch()} />;
  if (query.isSuccess && empty && emptyText) return <Empty>{emptyText}</Empty>;
  return null;
}
