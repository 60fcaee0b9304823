import { describe, expect, it } from 'vitest';
import { retryBriefly } from '../../src/adapters/retry-briefly.js';

describe('retryBriefly', () => {
  it('tries again after a failure and returns the first success', async () => {
    let calls = 0;
    const result = await retryBriefly(
      async () => {
        calls += 1;
        if (calls < 3) throw new Error('connection cut');
        return 'written';
      },
      { firstDelayMs: 1 },
    );
    expect(result).toBe('written');
    expect(calls).toBe(3);
  });

  it('throws the last failure once its tries are spent', async () => {
    let calls = 0;
    const work = async (): Promise<never> => {
      calls += 1;
      throw new Error(`failure ${calls}`);
    };
    await expect(retryBriefly(work, { attempts: 3, firstDelayMs: 1 })).rejects.toThrow('failure 3');
    expect(calls).toBe(3);
  });
});
