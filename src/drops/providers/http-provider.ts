import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { DropProviderError, type DropProvider, type DropRequest } from '../types.js';

/**
 * A ringless-voicemail vendor over HTTP, shaped like the public APIs of the field: one recipient
 * per request (`POST {RVM_API_URL}/v1/drops`, JSON), the E.164 number, the caller ID, an audio URL
 * or a text-to-speech body, our own drop id echoed back as `foreign_id`, and a status webhook
 * (`POST /rvm/webhook`) that carries that id, the outcome and a reason, signed with the shared
 * secret (`X-RVM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`).
 */

export const RVM_SIGNATURE_HEADER = 'x-rvm-signature';
/** A webhook older (or newer) than this is refused: a captured one cannot be replayed later. */
export const RVM_SIGNATURE_TOLERANCE_SECONDS = 300;
const REQUEST_TIMEOUT_MS = 10_000;

export interface HttpProviderConfig {
  apiUrl: string;
  apiKey: string;
  /** Where the vendor posts status updates. */
  webhookUrl: string;
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
}

const SendResponse = z.object({ id: z.string().min(1).max(100).regex(/^[\x21-\x7e]+$/) });

export function createHttpDropProvider(cfg: HttpProviderConfig): DropProvider {
  const doFetch = cfg.fetchImpl ?? fetch;
  return {
    vendor: 'rvm_http',
    async send(req: DropRequest): Promise<{ providerRef: string }> {
      const body = {
        phone_number: req.to,
        caller_id: req.callerId,
        foreign_id: req.dropId,
        callback_url: cfg.webhookUrl,
        ...(req.audioUrl ? { audio_url: req.audioUrl } : { tts_body: req.text, tts_voice: 'en-US-female' }),
      };
      let res: Response;
      try {
        res = await doFetch(`${cfg.apiUrl}/v1/drops`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${cfg.apiKey}`, 'idempotency-key': req.dropId },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(cfg.timeoutMs ?? REQUEST_TIMEOUT_MS),
        });
      } catch (err) {
        const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        throw new DropProviderError(`rvm vendor: ${timeout ? 'timeout' : 'network error'}`, true);
      }
      if (res.status === 429 || res.status >= 500) {
        await res.body?.cancel();
        throw new DropProviderError(`rvm vendor: HTTP ${res.status}`, true);
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new DropProviderError(`rvm vendor: HTTP ${res.status}`, false);
      }
      const parsed = SendResponse.safeParse(await res.json().catch(() => null));
      // Accepted, but no id we can use: retrying could send twice, so this is final.
      if (!parsed.success) throw new DropProviderError('rvm vendor: response without an id', false);
      return { providerRef: parsed.data.id };
    },
  };
}

/** Signs a webhook body as the vendor does (tests and the vendor double use it too). */
export function signRvmWebhook(secret: string, rawBody: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${rawBody}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Pure: checks a webhook signature header against the raw body, in constant time. */
export function verifyRvmSignature(
  secret: string,
  header: string | undefined,
  rawBody: string,
  nowSeconds: number,
): { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'invalid' } {
  if (!header) return { ok: false, reason: 'missing' };
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header.trim());
  if (!m) return { ok: false, reason: 'malformed' };
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > RVM_SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex'), 'utf8');
  const given = Buffer.from(m[2] ?? '', 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'invalid' };
}

/** The vendor's status webhook body. */
export const RvmWebhookSchema = z.object({
  // Printable: the id is stored (drops.provider_ref), and PostgreSQL refuses a NUL in text.
  id: z.string().min(1).max(100).regex(/^[\x20-\x7e]+$/),
  foreign_id: z.string().uuid(),
  status: z.enum(['delivered', 'failed']),
  reason: z
    .string()
    .max(60)
    .regex(/^[a-z0-9_ -]*$/i)
    .optional(),
});
export type RvmWebhook = z.infer<typeof RvmWebhookSchema>;
