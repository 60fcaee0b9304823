/**
 * A loopback stand-in for a ringless-voicemail vendor's HTTP API, shaped like the public APIs of
 * the field: `POST /v1/drops` (Bearer key, JSON: phone_number, caller_id, foreign_id,
 * callback_url, tts_body or audio_url) answers `{ id, status: 'queued' }`. It records every
 * request, can fail the next ones, and posts the vendor's signed status webhook back on demand.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signRvmWebhook } from '../../src/drops/providers/http-provider.js';

export interface VendorDropRequest {
  authorized: boolean;
  idempotencyKey: string | undefined;
  body: Record<string, unknown>;
  status: number;
  /** The vendor's id, when accepted. */
  id: string | null;
}

export interface RvmDouble {
  baseUrl: string;
  requests: VendorDropRequest[];
  /** Accepted drops by our id (foreign_id). */
  accepted(): Map<string, VendorDropRequest[]>;
  failNext(n: number, status: number): void;
  /** Posts the signed status webhook for one accepted drop to `callbackUrl` (the service's /rvm/webhook). */
  deliver(foreignId: string, status: 'delivered' | 'failed', opts?: { reason?: string; secret?: string; signature?: string }): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export async function startRvmDouble(opts: { apiKey: string; webhookSecret: string; webhookTarget: () => string }): Promise<RvmDouble> {
  const requests: VendorDropRequest[] = [];
  let failures = { remaining: 0, status: 500 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/v1/drops') return send(404, { error: 'not found' });
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return send(400, { error: 'bad json' });
      }
      const rec: VendorDropRequest = {
        authorized: req.headers.authorization === `Bearer ${opts.apiKey}`,
        idempotencyKey: req.headers['idempotency-key'] as string | undefined,
        body,
        status: 0,
        id: null,
      };
      requests.push(rec);
      if (failures.remaining > 0) {
        failures.remaining -= 1;
        rec.status = failures.status;
        return send(failures.status, { error: 'induced failure' });
      }
      if (!rec.authorized) {
        rec.status = 401;
        return send(401, { error: 'unauthorized' });
      }
      rec.status = 202;
      rec.id = `rvm_${randomBytes(8).toString('hex')}`;
      return send(202, { id: rec.id, status: 'queued' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const accepted = (): Map<string, VendorDropRequest[]> => {
    const map = new Map<string, VendorDropRequest[]>();
    for (const r of requests) {
      if (r.status !== 202) continue;
      const key = String(r.body.foreign_id);
      map.set(key, [...(map.get(key) ?? []), r]);
    }
    return map;
  };
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    accepted,
    failNext(n, status) {
      failures = { remaining: n, status };
    },
    async deliver(foreignId, status, o = {}) {
      const drop = accepted().get(foreignId)?.[0];
      const raw = JSON.stringify({ id: drop?.id ?? 'rvm_unknown', foreign_id: foreignId, status, ...(o.reason ? { reason: o.reason } : {}) });
      const signature = o.signature ?? signRvmWebhook(o.secret ?? opts.webhookSecret, raw, Math.floor(Date.now() / 1000));
      const res = await fetch(opts.webhookTarget(), { method: 'POST', headers: { 'content-type': 'application/json', 'x-rvm-signature': signature }, body: raw });
      return { status: res.status, body: await res.json().catch(() => null) };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
