import { describe, expect, it } from 'vitest';
import { isConfirmable } from '../../src/outreach/replies.js';

/**
 * Which outreach messages a reply "C" may confirm an appointment of (src/outreach/replies.ts).
 * Found by the guide's walk (test/guide-walk.e2e.test.ts): a recall SMS naming the patient's
 * booked recall visit was not confirmable, so a "C" to it became a staff task and the sequence
 * never saw a confirmation.
 */
describe('isConfirmable', () => {
  it('an appointment reminder or confirmation, with or without a named appointment', () => {
    expect(isConfirmable({ message_type: 'appointment_reminder', appointment_id: null })).toBe(true);
    expect(isConfirmable({ message_type: 'appointment_confirmation', appointment_id: 'a' })).toBe(true);
  });

  it('a recall only when it named the booked recall visit', () => {
    expect(isConfirmable({ message_type: 'recall', appointment_id: '5b0f3c1e-0000-4000-8000-000000000001' })).toBe(true);
    expect(isConfirmable({ message_type: 'recall', appointment_id: null })).toBe(false);
  });

  it('no other message type', () => {
    expect(isConfirmable({ message_type: 'results_ready', appointment_id: 'a' })).toBe(false);
    expect(isConfirmable({ message_type: 'billing_callback', appointment_id: null })).toBe(false);
  });
});
