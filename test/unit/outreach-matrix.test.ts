import { describe, expect, it } from 'vitest';
import { CHANNELS, DEFAULT_MATRIX, MESSAGE_TYPES, MatrixSchema, decideSend, fromStored, type CommunicationMatrix } from '../../src/outreach/matrix.js';
import { changedCells } from '../../src/outreach/matrix-store.js';
import { templateDetail, TEMPLATES } from '../../src/drops/templates.js';
import { zodProblems } from '../../src/http/responses.js';

/** The defaults with one cell replaced. */
function withCell(type: keyof CommunicationMatrix, channel: (typeof CHANNELS)[number], cell: { allowed: boolean; detail: 'none' | 'logistics' }): CommunicationMatrix {
  return { ...DEFAULT_MATRIX, [type]: { ...DEFAULT_MATRIX[type], [channel]: cell } };
}

describe('decideSend', () => {
  it('allows what the cell allows, naming the cell', () => {
    expect(decideSend(DEFAULT_MATRIX, 'recall', 'rvm', 'logistics')).toEqual({ ok: true, allowed: { cell: 'recall × rvm', type: 'recall', channel: 'rvm', detail: 'logistics' } });
    expect(decideSend(DEFAULT_MATRIX, 'callback_request', 'email', 'none')).toMatchObject({ ok: true });
  });

  it('refuses a closed cell, naming it', () => {
    const m = withCell('recall', 'email', { allowed: false, detail: 'none' });
    expect(decideSend(m, 'recall', 'email', 'none')).toEqual({ ok: false, cell: 'recall × email', reason: 'not_allowed', message: 'recall × email: not allowed' });
    expect(decideSend(DEFAULT_MATRIX, 'results_ready', 'rvm', 'none')).toMatchObject({ ok: false, message: 'results_ready × rvm: not allowed' });
  });

  it('refuses more detail than the cell allows', () => {
    expect(decideSend(DEFAULT_MATRIX, 'appointment_reminder', 'email', 'logistics')).toEqual({
      ok: false,
      cell: 'appointment_reminder × email',
      reason: 'detail_exceeds',
      message: 'appointment_reminder × email: allows no detail (this message carries logistics)',
    });
    expect(decideSend(DEFAULT_MATRIX, 'appointment_reminder', 'email', 'none')).toMatchObject({ ok: true });
  });
});

describe('the defaults', () => {
  it('cover every type and channel; e-mail never carries detail; nothing recorded says results are ready', () => {
    for (const type of MESSAGE_TYPES) for (const channel of CHANNELS) expect(DEFAULT_MATRIX[type][channel]).toBeDefined();
    for (const type of MESSAGE_TYPES) expect(DEFAULT_MATRIX[type].email.detail).toBe('none');
    expect(DEFAULT_MATRIX.results_ready.rvm.allowed).toBe(false);
    expect(DEFAULT_MATRIX.results_ready.voice.allowed).toBe(false);
    expect(MatrixSchema.safeParse(DEFAULT_MATRIX).success).toBe(true);
  });

  it('let every built-in drop template go out by ringless voicemail', () => {
    for (const t of TEMPLATES) expect(decideSend(DEFAULT_MATRIX, t.messageType, 'rvm', templateDetail(t.text)), t.id).toMatchObject({ ok: true });
  });
});

describe('MatrixSchema (the PUT body)', () => {
  it('names a missing cell, a wrong value and an unknown type', () => {
    const { recall: _recall, ...noRecall } = DEFAULT_MATRIX;
    const missing = MatrixSchema.safeParse(noRecall);
    expect(missing.success).toBe(false);
    if (!missing.success) expect(zodProblems(missing.error)).toMatch(/^recall: /);
    const wrong = MatrixSchema.safeParse({ ...DEFAULT_MATRIX, recall: { ...DEFAULT_MATRIX.recall, email: { allowed: 'yes', detail: 'none' } } });
    if (wrong.success) throw new Error('accepted');
    expect(zodProblems(wrong.error)).toMatch(/^recall\.email\.allowed: /);
    const detail = MatrixSchema.safeParse({ ...DEFAULT_MATRIX, recall: { ...DEFAULT_MATRIX.recall, sms: { allowed: true, detail: 'clinical' } } });
    if (detail.success) throw new Error('accepted');
    expect(zodProblems(detail.error)).toMatch(/^recall\.sms\.detail: /);
    const unknown = MatrixSchema.safeParse({ ...DEFAULT_MATRIX, marketing: DEFAULT_MATRIX.recall });
    expect(unknown.success).toBe(false);
  });

  it('refuses closing staff_page × voice or × sms, saying why', () => {
    for (const channel of ['voice', 'sms'] as const) {
      const r = MatrixSchema.safeParse(withCell('staff_page', channel, { allowed: false, detail: 'none' }));
      if (r.success) throw new Error(`closed staff_page × ${channel} accepted`);
      expect(zodProblems(r.error)).toMatch(new RegExp(`^staff_page\\.${channel}\\.allowed: staff_page × ${channel} cannot be closed: `));
    }
    expect(MatrixSchema.safeParse(withCell('staff_page', 'email', { allowed: true, detail: 'none' })).success).toBe(true);
  });
});

describe('fromStored', () => {
  it('takes the stored cells, fills what is missing from the defaults, keeps the locked cells open', () => {
    const stored = { recall: { email: { allowed: false, detail: 'none' } }, staff_page: { sms: { allowed: false, detail: 'none' } } };
    const m = fromStored(stored);
    expect(m.recall.email.allowed).toBe(false);
    expect(m.recall.sms).toEqual(DEFAULT_MATRIX.recall.sms);
    expect(m.staff_page.sms.allowed).toBe(true);
    expect(fromStored(null)).toEqual(DEFAULT_MATRIX);
  });

  it('changedCells names what differs', () => {
    expect(changedCells(DEFAULT_MATRIX, withCell('recall', 'email', { allowed: false, detail: 'none' }))).toEqual(['recall × email']);
    expect(changedCells(DEFAULT_MATRIX, DEFAULT_MATRIX)).toEqual([]);
  });
});

describe('templateDetail', () => {
  it('logistics when a template names a day, a time or the hours; none otherwise', () => {
    expect(templateDetail('Hello, {practice_name}, on {appointment_day} at {appointment_time}.')).toBe('logistics');
    expect(templateDetail('Our hours: {office_hours}.')).toBe('logistics');
    expect(templateDetail('Please call {practice_name} at {callback_number}.')).toBe('none');
  });
});
