import type { Scope } from './scope.js';

/**
 * One benchmark section of `npm run bench`. `run` prints its own figures, registers everything
 * it starts or creates with `scope` (closed by the runner, also on SIGINT), and returns the
 * problems that make the figures meaningless (errors, wrong status codes); missed targets are
 * informational and are not problems. Throwing counts as a problem too.
 */
export interface Bench {
  name: string;
  description: string;
  run(scope: Scope): Promise<string[]>;
}
