import type { Db } from '../adapters/postgres.js';
import { logger } from '../log/logger.js';
import { flowSourceForCall } from './flow-store.js';
import { checkFlowText } from './flow-loader.js';
import type { Flow } from './flow-types.js';

/**
 * Which flow a call runs, by the key its state keeps: a built-in flow's id (`after-hours`), or a
 * version of a practice's own flow (`riverside@3`: `@` never appears in a flow id). A version is
 * never changed once stored, so it is parsed and checked once per instance and kept: the cache
 * needs no invalidation, only a bound.
 */

const MAX_CACHED = 500;

export interface FlowResolver {
  /** The flow, or null when there is none under that key (the call then gets the fail-safe answer). */
  get(practiceId: string, key: string): Promise<Flow | null>;
}

/** The key a line's flow runs under (call state, audit details). */
export function flowKey(flowId: string, version: number | null): string {
  return version === null ? flowId : `${flowId}@${version}`;
}

export function createFlowResolver(db: Db, builtIn: ReadonlyMap<string, Flow>, audioDir: string): FlowResolver {
  const practiceFlows = new Map<string, Flow>();
  return {
    async get(practiceId, key) {
      const at = key.lastIndexOf('@');
      if (at < 0) return builtIn.get(key) ?? null;
      const cacheKey = `${practiceId}/${key}`;
      const known = practiceFlows.get(cacheKey);
      if (known) return known;
      const version = Number(key.slice(at + 1));
      const stored = Number.isInteger(version) ? await flowSourceForCall(db, practiceId, key.slice(0, at), version) : null;
      if (!stored) return null;
      const report = await checkFlowText(stored.source, stored.format, key, { audioDir });
      if (!report.flow || report.problems.length > 0) {
        // Checked when uploaded; an audio file removed since is the likely cause.
        logger.error('stored practice flow no longer passes its checks', { practiceId, flowKey: key, problems: report.problems.length });
        return null;
      }
      const flow: Flow = { ...report.flow, id: key };
      if (practiceFlows.size >= MAX_CACHED) practiceFlows.delete(practiceFlows.keys().next().value as string);
      practiceFlows.set(cacheKey, flow);
      return flow;
    },
  };
}
