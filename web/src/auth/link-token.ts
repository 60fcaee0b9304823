import { useEffect, useState } from 'react';

const TOKEN = /^#token=([A-Za-z0-9_-]{1,200})$/;

/** The token in this address's fragment (`#token=…`), or null. */
export function tokenInFragment(hash: string): string | null {
  return TOKEN.exec(hash)?.[1] ?? null;
}

/**
 * The one-time token of an invitation or reset link. It travels in the fragment, which the
 * browser never sends to a server (so no access log holds it); the page reads it once into
 * memory and takes it out of the address bar (history and a shoulder-surfer see the bare page).
 * It is never written to storage, the path or the query.
 */
export function useLinkToken(): string | null {
  const [token] = useState(() => tokenInFragment(window.location.hash));
  useEffect(() => {
    if (window.location.hash === '') return;
    // The router's own entry state is kept: only the address loses its fragment.
    window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  }, []);
  return token;
}
