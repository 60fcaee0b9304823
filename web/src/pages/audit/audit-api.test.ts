import { describe, expect, it } from 'vitest';
import { auditExportUrl } from './audit-api';

describe('the audit export link', () => {
  it("carries the search's filters and the format only, for the server to stream every matching row", () => {
    const url = auditExportUrl({ action: 'user.', actor: 'user:4b1c', from: '2026-11-01' }, 'csv');
    expect(url).toBe('/api/audit/export?action=user.&actor=user%3A4b1c&from=2026-11-01&format=csv');
    expect(auditExportUrl({}, 'ndjson')).toBe('/api/audit/export?format=ndjson');
  });

  it('never carries a key the search does not know (a stray word typed into the address bar)', () => {
    const filters = { callSid: `CA${'a'.repeat(32)}`, name: 'Ann Smith' } as unknown as Parameters<typeof auditExportUrl>[0];
    expect(auditExportUrl(filters, 'csv')).toBe(`/api/audit/export?callSid=CA${'a'.repeat(32)}&format=csv`);
  });
});
