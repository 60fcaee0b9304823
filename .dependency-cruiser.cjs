/**
 * Layer rules for src/ (docs/architecture.md, "Layers"): http → domains → adapters → config.
 * Run by `npm run lint`. Type-only imports count: a cycle through types is still a cycle.
 */
/** The domain folders under src/ (drops/ holds the ringless-voicemail drops). */
const DOMAINS = 'calls|oncall|notify|voicemail|drops|consent|verification|practices|patients|fhir|auth|time|tenancy|outreach';

/** The import-free development defaults (ports, demo numbers) that the configuration and the demo seed read. */
const DEV_DEFAULTS = '^src/dev-defaults\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, type-only ones included: break them by moving the shared type to the lower module.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'adapters-not-to-domains',
      severity: 'error',
      comment: 'Adapters (postgres, redis, queue, storage, keyring, twilio, metrics) know nothing of the domains, the audit store, http or the start-up modules.',
      from: { path: '^src/adapters/' },
      to: { path: [`^src/(${DOMAINS}|audit|http)/`, '^src/(services|workers|maintenance|main|app-context)\\.ts$'] },
    },
    {
      name: 'audit-below-domains',
      severity: 'error',
      comment: 'The audit store is used by every domain, so it imports none of them (only adapters, log and config).',
      from: { path: '^src/audit/' },
      to: { path: [`^src/(${DOMAINS}|http)/`, '^src/(services|workers|maintenance|main)\\.ts$'] },
    },
    {
      name: 'log-and-config-at-the-bottom',
      severity: 'error',
      comment: 'The logger and the configuration import nothing else of ours (the logger may read its own helpers).',
      from: { path: '^src/(log/|config\\.ts$)' },
      to: { path: '^src/', pathNot: [`^src/(log/|config\\.ts$)`, DEV_DEFAULTS] },
    },
    {
      name: 'domains-not-to-http',
      severity: 'error',
      comment: 'Domains return data; the routes in src/http render it. A domain never imports a route or HTTP helper.',
      from: { path: `^src/(${DOMAINS}|audit)/` },
      to: { path: '^src/http/' },
    },
    {
      name: 'domains-not-to-startup',
      severity: 'error',
      comment: 'Domains and routes take their adapters as arguments; they never import the modules that build them or start the workers.',
      from: { path: `^src/(${DOMAINS}|audit|http)/` },
      to: { path: '^src/(workers|main|maintenance)\\.ts$' },
    },
    {
      name: 'services-type-only',
      severity: 'error',
      comment: 'Domains and routes may name the `Services` type (until each takes Pick<AppContext, …>), never call into src/services.ts.',
      from: { path: `^src/(${DOMAINS}|audit|http)/` },
      to: { path: '^src/services\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'app-context-is-adapters',
      severity: 'error',
      comment: 'src/app-context.ts names the adapters only, so any module may import it without closing a cycle.',
      from: { path: '^src/app-context\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(adapters/|audit/store\\.ts$|config\\.ts$|log/)' },
    },
    {
      name: 'scope-minted-by-auth',
      severity: 'error',
      comment:
        'A PracticeScope is minted (src/tenancy/mint.ts) only where the acting practice has been established: the API permit check, the Twilio webhook routes (the number called), worker start-up and the CLIs. Everything else receives one.',
      from: { pathNot: ['^src/http/(api-auth|twilio-routes|twilio-auth)\\.ts$', '^src/(workers|maintenance|main|services)\\.ts$', '^scripts/', '^src/tenancy/'] },
      to: { path: '^src/tenancy/mint\\.ts$' },
    },
    {
      name: 'system-scopes-for-background-work',
      severity: 'error',
      comment:
        "A worker's cross-practice scope (src/tenancy/system-scope.ts) is taken only by background work and start-up: the page and drop workers (and an SMS campaign's sends, drops/sms-worker), the voicemail notifications, the FHIR schedule, the demo seed, the operator's onboarding (it crosses practices by nature), the provider-lockout notice to a practice's admins, the callback tasks' background work (a stored voicemail's task, the overdue alerts), the morning report's sweep, the sequences' sweep (sequences/sweep), and the CLIs. Routes and webhooks use the request scope minted for them (permit, or the Twilio route's scopeFor).",
      from: {
        pathNot: [
          '^src/(drops/drop-worker|drops/sms-worker|fhir/schedule|oncall/paging|voicemail/notify|practices/seed|practices/onboarding|verification/lockout-notice|patients/import-worker|tasks/background|tasks/overdue|reports/morning|sequences/sweep)\\.ts$',
          '^src/(workers|maintenance|services|main)\\.ts$',
          '^src/tenancy/',
          '^scripts/',
        ],
      },
      to: { path: '^src/tenancy/system-scope\\.ts$' },
    },
    {
      name: 'src-not-to-devtools-or-tests',
      severity: 'error',
      comment: 'Product code never imports the simulator, the development stand-ins (devtools/) or test code.',
      from: { path: '^src/' },
      to: { path: ['^src/simulator/', '^devtools/', '^test/'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve is a typo or a missing package.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    cache: false,
  },
};
