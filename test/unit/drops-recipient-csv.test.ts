import { describe, expect, it } from 'vitest';
import { parseRecipientCsv } from '../../src/drops/campaigns.js';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';

describe('parseRecipientCsv', () => {
  it('reads quoted fields with commas, quotes and line breaks without shifting the columns', () => {
    const csv = ['name,patient_id,note', `"Doe, Jane",${A},"said ""hi"", twice"`, `"Roe,\nRichard",${B},plain`].join('\r\n');
    expect(parseRecipientCsv(csv)).toEqual({ ok: true, value: [A, B] });
  });

  it('keeps the row-by-row shape: a row with the wrong number of fields or an empty id is null', () => {
    const csv = ['\uFEFFPatient_ID , note', `${A},one`, `${B}`, `${A},x,extra`, '', ',empty', ` "${B}" ,trimmed`, '', ''].join('\n');
    expect(parseRecipientCsv(csv)).toEqual({ ok: true, value: [A, null, null, null, null, B] });
  });

  it('refuses a file without a patient_id column, or one that is not CSV, without quoting it', () => {
    expect(parseRecipientCsv('id,note\n1,2')).toMatchObject({ ok: false, reason: 'invalid', message: 'csv: the header row must name a patient_id column' });
    const broken = parseRecipientCsv(`patient_id,note\n${A},"Jane Doe never closed`);
    expect(broken).toMatchObject({ ok: false, reason: 'invalid' });
    expect(!broken.ok && broken.message).toMatch(/^csv: could not be read \(CSV_[A-Z_]+\)/);
    expect(JSON.stringify(broken)).not.toContain('Jane');
  });
});
