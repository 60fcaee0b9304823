import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';

/**
 * A list's filters kept in the address bar, so a filtered list can be bookmarked, shared and
 * linked to (the Overnight page links its counts this way). Ids, codes and dates only: a page
 * never puts a name, a number or any other search term here (STYLE: ids in URLs, never PHI).
 */
export type Filters<K extends string> = Partial<Record<K, string>>;

/** The filters a URL holds: only the keys the list knows, empty values left out. */
export function filtersOf<K extends string>(params: URLSearchParams, keys: readonly K[]): Filters<K> {
  const filters: Filters<K> = {};
  for (const key of keys) {
    const value = params.get(key);
    if (value !== null && value !== '') filters[key] = value;
  }
  return filters;
}

/** The URL query for a set of filters: empty values left out, keys in the list's order (stable links). */
export function searchOf<K extends string>(filters: Filters<K>, keys: readonly K[]): URLSearchParams {
  const search = new URLSearchParams();
  for (const key of keys) {
    const value = filters[key];
    if (value !== undefined && value !== '') search.set(key, value);
  }
  return search;
}

/** The list's filters from the URL, and a way to apply new ones (a new history entry). */
export function useUrlFilters<K extends string>(keys: readonly K[]): [Filters<K>, (next: Filters<K>) => void] {
  const [params, setParams] = useSearchParams();
  const text = params.toString();
  const filters = useMemo(() => filtersOf(new URLSearchParams(text), keys), [text, keys]);
  const apply = useCallback((next: Filters<K>) => setParams(searchOf(next, keys)), [setParams, keys]);
  return [filters, apply];
}
