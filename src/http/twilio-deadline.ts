import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { logger } from '../log/logger.js';
import { routeLabel } from '../log/route-label.js';

/**
 * Twilio gives a webhook 15 s in all. Every Twilio route answers within TWILIO_ROUTE_DEADLINE_MS
 * whatever it waits on (a hung database, Redis, a disk): past it, the route's own safe answer is
 * sent and the handler's later answer is dropped. Flow webhooks have their own, shorter deadline
 * (9 s) and the recording callback its spool (6 s); this is the backstop for every route.
 */
export const TWILIO_ROUTE_DEADLINE_MS = 11_000;

export interface TimeoutAnswer {
  status: number;
  twiml: string;
}

export function boundTwilioRoutes(ms: number, answerFor: (req: Request) => TimeoutAnswer): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      const answer = answerFor(req);
      logger.error('twilio webhook out of time; answering safe', { route: routeLabel(req, '/twilio'), status: answer.status });
      res.status(answer.status).type('text/xml').send(answer.twiml);
    }, ms);
    const clear = (): void => clearTimeout(timer);
    res.once('finish', clear);
    res.once('close', clear);
    next();
  };
}
