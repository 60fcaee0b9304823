import { describe, expect, it } from 'vitest';
import { toApiError } from '../../api/errors';
import { callBackProblem } from './call-back-button';

/** What the button says when POST /api/tasks/:id/call refuses (src/http/task-routes.ts callAnswer). */
describe('callBackProblem', () => {
  it('a 404 is a task that is not there (the route exists), never "not available on this service"', () => {
    const text = callBackProblem(toApiError(404, { error: 'not_found' }));
    expect(text).not.toMatch(/not available/);
    expect(text).toMatch(/callback is no longer there/i);
  });

  it("Twilio's refusal (502 call_failed) says the call was not placed and the failed attempt is on the task", () => {
    const text = callBackProblem(toApiError(502, { error: 'call_failed', message: 'the call could not be placed; the attempt is recorded as failed', callId: 'x' }));
    expect(text).not.toBe(callBackProblem(toApiError(500, {})));
    expect(text).toMatch(/could not be placed/);
    expect(text).toMatch(/attempt/);
  });

  it("a 409 carries the service's reason", () => {
    const text = callBackProblem(toApiError(409, { error: 'no_phone', message: 'no phone to ring' }));
    expect(text).toBe('This call cannot be placed now: no phone to ring');
  });
});
