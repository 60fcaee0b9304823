import type express from 'express';
import type { z } from 'zod';

/** The API's error answers, one shape everywhere: `{ error, message? }`. */

/** A zod error as `field: problem; …` (the input itself is never echoed). */
export function zodProblems(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

export function badRequest(res: express.Response, message: string): void {
  res.status(400).json({ error: 'bad_request', message });
}

export function notFound(res: express.Response): void {
  res.status(404).json({ error: 'not_found' });
}
