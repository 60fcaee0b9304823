import { useEffect } from 'react';

/** The window's title names the page, never a patient or a number (it lands in history and tab lists). */
export function usePageTitle(page: string): void {
  useEffect(() => {
    document.title = `${page} · After-hours console`;
  }, [page]);
}
