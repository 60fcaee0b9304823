/**
 * The API's shapes as the server defines them, imported from its own modules (types only: erased
 * from the bundle, so no server code ships to the browser). A change to one of these on the
 * server breaks the console's typecheck (`npm run typecheck` runs `tsc -p web/tsconfig.json`)
 * instead of drifting silently. This file is the console's one door into `src/`; ESLint refuses
 * a value import from `src/` anywhere in `web/` (eslint.config.js).
 */
export type { Holidays, NamedHoliday, OpenInterval, Weekday, WeeklyHours } from '../../../src/practices/settings';
export type { Practice as ServerPractice, PracticeNumber } from '../../../src/practices/store';
export type { TemplateSummary } from '../../../src/drops/templates-store';
export type { TemplateProblem } from '../../../src/drops/templates';
export type { CampaignProgress, ListedCampaign, RecipientRow } from '../../../src/drops/campaigns';
export type { DryRunReport } from '../../../src/drops/eligibility';
export type { DropStatus, DropVendor, SkipReason, TemplatePurpose } from '../../../src/drops/types';
export type { VendorBaa } from '../../../src/consent/store';
export type { Channel as MatrixChannel, CommunicationMatrix, Detail as MatrixDetail, MessageType } from '../../../src/outreach/matrix';
