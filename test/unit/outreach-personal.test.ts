import { describe, expect, it } from 'vitest';
import { personalFrom, personalMiss, recipientParams, spokenWhen, type Personal } from '../../src/outreach/personal.js';
import { getTemplate, personalPlaceholdersIn, renderTemplate } from '../../src/drops/templates.js';
import type { SpokenAppointment } from '../../src/patients/appointments.js';

const NY = 'America/New_York';
const PATIENT = '0b7c2f3e-1111-4111-8111-111111111111';
const OTHER = '0b7c2f3e-2222-4222-8222-222222222222';
const NOW = new Date('2026-12-01T13:00:00Z');

const appointment = (over: Partial<SpokenAppointment> = {}): SpokenAppointment => ({
  id: '5f1d0c2a-3333-4333-8333-333333333333',
  patientId: PATIENT,
  startsAt: new Date('2026-12-03T14:15:00Z'),
  status: 'booked',
  locationName: 'Main Street Office',
  ...over,
});

describe('spokenWhen', () => {
  it.each([
    ['2026-12-03T14:15:00Z', NY, 'Thursday, December 3', '9:15 AM'],
    ['2026-12-03T17:00:00Z', NY, 'Thursday, December 3', '12:00 PM'],
    ['2026-12-04T05:05:00Z', NY, 'Friday, December 4', '12:05 AM'],
    // The practice's own clock: 02:30Z is still Monday evening in New York.
    ['2026-12-01T02:30:00Z', NY, 'Monday, November 30', '9:30 PM'],
    ['2026-12-01T02:30:00Z', 'America/Los_Angeles', 'Monday, November 30', '6:30 PM'],
    // Across the March change to daylight time (EDT, -04:00).
    ['2027-03-15T13:00:00Z', NY, 'Monday, March 15', '9:00 AM'],
  ])('%s in %s is "%s" at "%s"', (iso, zone, day, time) => {
    expect(spokenWhen(new Date(iso), zone)).toEqual({ appointment_day: day, appointment_time: time });
  });

  it('every value it makes passes the template rules (a day never with a year)', () => {
    const reminder = getTemplate('appointment-reminder');
    if (!reminder) throw new Error('no built-in reminder');
    for (let h = 0; h < 24 * 40; h += 7) {
      const values = spokenWhen(new Date(NOW.getTime() + h * 3_600_000 + 1_380_000), NY);
      expect(renderTemplate(reminder, { practice_name: 'Demo Family Medicine', callback_number: '+12025550102', ...values }).ok, JSON.stringify(values)).toBe(true);
    }
  });
});

describe('personalFrom', () => {
  const recipient = { patientId: PATIENT, appointmentId: null };

  it('speaks an upcoming booked or confirmed appointment of the recipient', () => {
    expect(personalFrom(appointment(), recipient, NY, NOW)).toEqual({
      ok: true,
      appointmentId: appointment().id,
      values: { appointment_day: 'Thursday, December 3', appointment_time: '9:15 AM', appointment_location: 'Main Street Office' },
    });
    expect(personalFrom(appointment({ status: 'confirmed' }), recipient, NY, NOW).ok).toBe(true);
  });

  it.each([
    ['none found', undefined],
    ['another patient’s', appointment({ patientId: OTHER })],
    ['cancelled', appointment({ status: 'cancelled' })],
    ['a no-show', appointment({ status: 'no_show' })],
    ['past', appointment({ startsAt: new Date(NOW.getTime() - 60_000) })],
    ['starting now', appointment({ startsAt: NOW })],
  ])('gives nothing for an appointment that is %s', (_label, found) => {
    expect(personalFrom(found, recipient, NY, NOW)).toEqual({ ok: false, reason: 'no_appointment' });
  });

  it('a location missing or refused by the PHI check is never spoken; day and time still are', () => {
    const none = personalFrom(appointment({ locationName: null }), recipient, NY, NOW);
    expect(none).toMatchObject({ ok: true, locationProblem: 'no_location' });
    expect(none.ok && none.values.appointment_location).toBeFalsy();
    for (const name of ['Oncology Center', 'Dr. Smith Clinic', 'Psychiatry Wing', 'Room <b>']) {
      const refused = personalFrom(appointment({ locationName: name }), recipient, NY, NOW);
      expect(refused, name).toMatchObject({ ok: true, locationProblem: 'location_refused' });
      expect(refused.ok && refused.values.appointment_location, name).toBeFalsy();
    }
  });
});

describe('personalMiss', () => {
  const found: Personal = { ok: true, appointmentId: 'a', values: { appointment_day: 'Thursday, December 3', appointment_time: '9:15 AM' }, locationProblem: 'no_location' };
  it('skips only for what the template uses', () => {
    expect(personalMiss([], { ok: false, reason: 'no_appointment' })).toBeNull();
    expect(personalMiss(['appointment_day'], { ok: false, reason: 'no_appointment' })).toBe('no_appointment');
    expect(personalMiss(['appointment_day', 'appointment_time'], found)).toBeNull();
    expect(personalMiss(['appointment_day', 'appointment_location'], found)).toBe('no_location');
  });

  it('knows which placeholders of a text are personal', () => {
    expect(personalPlaceholdersIn('On {appointment_day} at {appointment_location}, {practice_name}, {appointment_day}.')).toEqual(['appointment_day', 'appointment_location']);
    expect(personalPlaceholdersIn(getTemplate('recall')?.text ?? '')).toEqual([]);
  });
});

describe('recipientParams', () => {
  it('the practice’s name and number always; the recipient’s appointment, never a campaign-wide one', () => {
    const params = recipientParams(
      { name: 'Demo Family Medicine', callbackNumber: '+12025550102' },
      { practice_name: 'Other', callback_number: '+19995550100', office_hours: 'open Monday', appointment_day: 'Friday', appointment_time: '1:00 PM' },
      { appointment_day: 'Thursday, December 3', appointment_time: '9:15 AM' },
    );
    expect(params).toEqual({ practice_name: 'Demo Family Medicine', callback_number: '+12025550102', office_hours: 'open Monday', appointment_day: 'Thursday, December 3', appointment_time: '9:15 AM' });
    // Without a recipient's values, a stored campaign-wide day is dropped, never spoken to everyone.
    expect(recipientParams({ name: 'X Clinic', callbackNumber: '+12025550102' }, { appointment_day: 'Friday' })).toEqual({ practice_name: 'X Clinic', callback_number: '+12025550102' });
  });

  it('renders a reminder as the preview: placeholders kept, length at its worst case', () => {
    const reminder = getTemplate('appointment-reminder');
    if (!reminder) throw new Error('no built-in reminder');
    const preview = renderTemplate(reminder, { practice_name: 'Demo Family Medicine', callback_number: '+12025550102' }, { keepPersonal: true });
    expect(preview).toMatchObject({ ok: true, text: expect.stringContaining('on {appointment_day} at {appointment_time}') });
    expect(renderTemplate(reminder, { practice_name: 'Demo Family Medicine', callback_number: '+12025550102' })).toMatchObject({ ok: false });
  });
});
