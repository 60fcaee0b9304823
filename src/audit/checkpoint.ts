import { z } from 'zod';

/** One checkpoint of a chain's head: what ./checkpoints.ts writes and the store's verifier (./store.ts) compares. */
export const Checkpoint = z.object({
  chain: z.string().min(1).max(64),
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The head row's time. */
  at: z.string().datetime(),
  /** When the checkpoint was taken. */
  checkpointAt: z.string().datetime(),
});
export type Checkpoint = z.infer<typeof Checkpoint>;
