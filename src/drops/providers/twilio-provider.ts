import type { Redis } from 'ioredis';
import { TwilioRestError, type TwilioRest } from '../../adapters/twilio-rest.js';
import { acquireSlot, TWILIO_CALLS_PER_SECOND, twilioCallRateKey } from '../rate-limit.js';
import { DropProviderError, type DropProvider, type DropRequest } from '../types.js';

/**
 * A voicemail drop placed by Twilio, for practices without a ringless-voicemail vendor: an
 * outbound call with answering-machine detection that waits for the end of the greeting
 * (`MachineDetection=DetectMessageEnd`), then plays the message (/twilio/rvm/answer). It rings
 * the recipient's phone, unlike a ringless drop. Calls are created no faster than Twilio's
 * default of one per second per account, shared by every instance through Redis.
 * URLs carry the drop's opaque id only.
 */

export const DROP_RING_TIMEOUT_SECONDS = 30;

export function dropAnswerPath(dropId: string): string {
  return `/twilio/rvm/answer?d=${dropId}`;
}
/** Where a person's key at the "press 1 to confirm" prompt of an appointment message goes (../drop-service.ts). */
export function dropConfirmPath(dropId: string): string {
  return `/twilio/rvm/confirm?d=${dropId}`;
}
export function dropStatusPath(dropId: string): string {
  return `/twilio/rvm/status?d=${dropId}`;
}

export function createTwilioDropProvider(deps: { twilio: TwilioRest; redis: Redis; accountSid: string; publicBaseUrl: string; callsPerSecond?: number }): DropProvider {
  return {
    vendor: 'twilio',
    async send(req: DropRequest): Promise<{ providerRef: string }> {
      await acquireSlot(deps.redis, twilioCallRateKey(deps.accountSid), deps.callsPerSecond ?? TWILIO_CALLS_PER_SECOND);
      try {
        const { sid } = await deps.twilio.createCall({
          to: req.to,
          from: req.callerId,
          url: `${deps.publicBaseUrl}${dropAnswerPath(req.dropId)}`,
          statusCallback: `${deps.publicBaseUrl}${dropStatusPath(req.dropId)}`,
          statusCallbackEvent: ['completed'],
          machineDetection: 'DetectMessageEnd',
          timeout: DROP_RING_TIMEOUT_SECONDS,
        });
        return { providerRef: sid };
      } catch (err) {
        if (err instanceof TwilioRestError) throw new DropProviderError(`twilio: ${err.reason}${err.twilioCode ? ` ${err.twilioCode}` : ''}`, err.retryable);
        throw new DropProviderError('twilio: unexpected error', true);
      }
    },
  };
}
