import { describe, expect, it } from 'vitest';
import { createMetrics, statusClass } from '../../src/adapters/metrics.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('metrics', () => {
  it('a source that hangs is reported down; the scrape still answers with the others', async () => {
    const metrics = createMetrics({ sourceTimeoutMs: 20 });
    metrics.setSources({
      queueCounts: async () => ({ waiting: 2 }),
      voicemailStates: () => new Promise(() => undefined),
      dropStatuses: async () => {
        throw new Error('database down');
      },
    });
    const { body } = await metrics.scrape();
    expect(body).toContain('ahl_metrics_source_up{source="voicemails"} 0');
    expect(body).toContain('ahl_metrics_source_up{source="drops"} 0');
    expect(body).toContain('ahl_metrics_source_up{source="queues"} 1');
    expect(body).toContain('ahl_queue_jobs{queue="pages",state="waiting"} 2');
    expect(body).not.toMatch(/^ahl_voicemails\{/m);
  });

  it('concurrent scrapes read the sources once', async () => {
    const metrics = createMetrics();
    let reads = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    metrics.setSources({
      queueCounts: async () => ({}),
      voicemailStates: async () => {
        reads += 1;
        await gate;
        return { stored: 1 };
      },
      dropStatuses: async () => ({}),
    });
    const scrapes = [metrics.scrape(), metrics.scrape(), metrics.scrape()];
    release();
    for (const { body } of await Promise.all(scrapes)) expect(body).toContain('ahl_voicemails{state="stored"} 1');
    expect(reads).toBe(1);
    await metrics.scrape();
    expect(reads).toBe(2);
  });

  it('keeps label sets closed: unknown reasons, states and methods do not become series', async () => {
    const metrics = createMetrics();
    metrics.setSources({
      queueCounts: async () => ({ 'caller +12025550123': 1 }),
      voicemailStates: async () => ({ complete: 3, '+12025550123': 9 }),
      dropStatuses: async () => ({}),
    });
    metrics.countFailSafe('no_state');
    metrics.countFailSafe('Avery +12025550123');
    metrics.observeRequest('BREW', '/twilio/voice/incoming', 200, 0.01);
    const { body } = await metrics.scrape();
    expect(body).toContain('ahl_failsafe_answers_total{reason="no_state"} 1');
    expect(body).toContain('ahl_failsafe_answers_total{reason="other"} 1');
    expect(body).toContain('ahl_http_responses_total{method="OTHER",route="/twilio/voice/incoming",status="200"} 1');
    expect(body).toContain('ahl_voicemails{state="complete"} 3');
    expect(body).not.toContain('2025550123');
    expect(body).not.toContain('Avery');
    expect(body).not.toContain('BREW');
  });

  it('two instances keep separate counts (no global registry)', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.countLockout('caller');
    expect((await a.scrape()).body).toContain('ahl_verification_lockouts_total{line="caller"} 1');
    expect((await b.scrape()).body).not.toContain('ahl_verification_lockouts_total{line="caller"}');
  });

  it('status classes', () => {
    expect(statusClass(200)).toBe('2xx');
    expect(statusClass(404)).toBe('4xx');
    expect(statusClass(999)).toBe('other');
  });

  it('configuration: METRICS_TOKEN and METRICS_PORT are checked, named and never echoed', () => {
    expect(loadConfig({}).metrics).toEqual({ host: '127.0.0.1' });
    const token = 'a-metrics-token-of-enough-length';
    expect(loadConfig({ METRICS_TOKEN: token, METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' }).metrics).toEqual({ token, port: 9464, host: '10.0.0.5' });
    for (const [env, name] of [
      [{ METRICS_TOKEN: 'too-short' }, 'METRICS_TOKEN'],
      [{ METRICS_TOKEN: 'has a space in it, which is not allowed' }, 'METRICS_TOKEN'],
      [{ METRICS_PORT: 'ninety' }, 'METRICS_PORT'],
      [{ METRICS_PORT: '70000' }, 'METRICS_PORT'],
      [{ METRICS_PORT: '3000' }, 'METRICS_PORT'],
    ] as const) {
      let problems: string[] = [];
      try {
        loadConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) problems = err.problems;
      }
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^${name}: `));
      expect(problems[0]).not.toContain(Object.values(env)[0]);
    }
  });
});
