import { describe, expect, it } from 'vitest';
import { campaignBar, isSettled, reasonText } from './api';

describe("a campaign's bar", () => {
  it('is the share of drops that reached a final status, in words too', () => {
    expect(campaignBar({ total: 3, done: 1 })).toEqual({ value: 33, label: '1 of 3 finished (33 %)' });
    expect(campaignBar({ total: 3, done: 3 })).toEqual({ value: 100, label: '3 of 3 finished (100 %)' });
  });

  it('a campaign without recipients is not "done"', () => {
    expect(campaignBar({ total: 0, done: 0 })).toEqual({ value: 0, label: 'No recipients yet' });
  });

  it('never passes 100', () => {
    expect(campaignBar({ total: 2, done: 3 }).value).toBe(100);
  });
});

describe('polling and reasons', () => {
  it('stops once the campaign is completed or cancelled, not while it is a draft, running or paused', () => {
    expect(['completed', 'cancelled'].map(isSettled)).toEqual([true, true]);
    expect(['draft', 'running', 'paused'].map(isSettled)).toEqual([false, false, false]);
  });

  it('says each refusal in words; an unknown code is shown as it is', () => {
    expect(reasonText('no_consent')).toBe('no ringless-voicemail consent on record');
    expect(reasonText('no_consent', 'sms')).toBe('no SMS consent on record');
    expect(reasonText('sms_weekly_cap', 'sms')).toBe('weekly SMS limit reached (sent later)');
    expect(reasonText('carrier_rejected')).toBe('carrier_rejected');
    expect(reasonText('no_appointment')).toBe('no upcoming appointment to remind of');
  });
});
