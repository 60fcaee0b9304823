import { describe, expect, it } from 'vitest';
import { refusalAnswer, vendorWebhookAnswer } from '../../src/http/drops-routes.js';

/** Domain results carry no HTTP status: the route maps them, and the API answers as before. */

describe('refusals of campaigns, consent and vendor BAAs', () => {
  it('invalid → 400 bad_request, not_found → 404, conflict → 409, with the message', () => {
    expect(refusalAnswer({ reason: 'invalid', message: 'csv: at most 200,000 rows' })).toEqual({ status: 400, body: { error: 'bad_request', message: 'csv: at most 200,000 rows' } });
    expect(refusalAnswer({ reason: 'not_found', message: 'campaign not found' })).toEqual({ status: 404, body: { error: 'not_found', message: 'campaign not found' } });
    expect(refusalAnswer({ reason: 'conflict', message: 'cannot start a campaign that is running' })).toEqual({
      status: 409,
      body: { error: 'conflict', message: 'cannot start a campaign that is running' },
    });
  });
});

describe('the vendor webhook', () => {
  it('answers each outcome with the status and body the vendor saw before', () => {
    expect(vendorWebhookAnswer({ result: 'not_configured' })).toEqual({ status: 503, body: { error: 'not_configured' } });
    expect(vendorWebhookAnswer({ result: 'unauthorized' })).toEqual({ status: 401, body: { error: 'unauthorized' } });
    expect(vendorWebhookAnswer({ result: 'malformed', message: 'expected { id }' })).toEqual({ status: 400, body: { error: 'bad_request', message: 'expected { id }' } });
    expect(vendorWebhookAnswer({ result: 'unknown_drop' })).toEqual({ status: 404, body: { error: 'not_found' } });
    expect(vendorWebhookAnswer({ result: 'recorded' })).toEqual({ status: 200, body: { result: 'recorded' } });
    expect(vendorWebhookAnswer({ result: 'already_final' })).toEqual({ status: 200, body: { result: 'already_final' } });
  });
});
