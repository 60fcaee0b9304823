import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { LocalDateSchema } from '../practices/settings.js';
import { getPractice } from '../practices/store.js';
import { buildOvernightReport } from '../reports/overnight.js';
import { closedPeriodFor, latestClosedPeriod } from '../reports/period.js';
import { permit, principalOf } from './api-auth.js';
import { badRequest, zodProblems } from './responses.js';

/** `date`: the local date the practice opened on (the period is the night before it); none: the latest period that has ended. */
export const OvernightQuery = z.strictObject({ date: LocalDateSchema.optional() });

/** The morning report of the key's practice (src/reports/): counts of the closed period, each with its list filter. */
export function reportRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/reports/overnight', async (req, res) => {
    const q = OvernightQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const practice = await getPractice(scope);
    if (!practice) return void res.status(404).json({ error: 'not_found', message: 'no such practice' });
    const now = services.clock();
    const period = q.data.date
      ? closedPeriodFor(q.data.date, practice.timeZone, practice.weeklyHours, practice.holidays)
      : latestClosedPeriod(now, practice.timeZone, practice.weeklyHours, practice.holidays);
    if (!period) return void res.status(404).json({ error: 'not_found', message: q.data.date ? 'the practice does not open on that date' : 'no closed period in the last month' });
    res.json(await buildOvernightReport(services, scope, period, practice.timeZone, now));
  });

  return router;
}
