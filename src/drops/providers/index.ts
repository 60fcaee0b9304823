import type { AppContext } from '../../app-context.js';
import { DropProviderError, type DropProvider, type DropVendor } from '../types.js';
import { createHttpDropProvider } from './http-provider.js';
import { createTwilioDropProvider } from './twilio-provider.js';

/** What building a provider's adapter reads: the configuration, and Twilio's client and Redis for Twilio drops. */
export type DropProviderDeps = Pick<AppContext, 'config' | 'twilio' | 'redis'>;

/** The adapter for a campaign's provider, from the service's configuration. */
export function createDropProvider(services: DropProviderDeps, vendor: DropVendor): DropProvider {
  switch (vendor) {
    case 'rvm_http': {
      const { apiUrl, apiKey } = services.config.rvm;
      if (!apiUrl || !apiKey) throw new DropProviderError('rvm vendor: RVM_API_URL and RVM_API_KEY are not configured', false);
      return createHttpDropProvider({ apiUrl, apiKey, webhookUrl: `${services.config.publicBaseUrl}/rvm/webhook` });
    }
    case 'twilio':
      return createTwilioDropProvider({
        twilio: services.twilio,
        redis: services.redis,
        accountSid: services.config.twilio.accountSid,
        publicBaseUrl: services.config.publicBaseUrl,
      });
    default:
      return vendor satisfies never;
  }
}

/** Whether a provider can be used with the current configuration (said when a campaign is created). */
export function providerConfigured(services: Pick<AppContext, 'config'>, vendor: DropVendor): boolean {
  return vendor === 'twilio' || Boolean(services.config.rvm.apiUrl && services.config.rvm.apiKey);
}
