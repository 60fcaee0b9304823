import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { DEV_DEFAULTS, publicBaseUrlFor } from './dev-defaults.js';

/**
 * The service's whole configuration, read once from the environment.
 * Every variable is documented in README.md ("Configuration"); keep the two in step.
 */

export const DEV_TWILIO_ACCOUNT_SID = DEV_DEFAULTS.twilioAccountSid;
export const DEV_TWILIO_AUTH_TOKEN = DEV_DEFAULTS.twilioAuthToken;

const E164 = /^\+[1-9]\d{6,14}$/;

const bool = (def: boolean): z.ZodType<boolean> =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
    .optional()
    .transform((v) => (v === undefined ? def : v === 'true' || v === '1' || v === 'yes'));

/** A request budget per minute (rate limits, ./http/rate-limit.ts). */
const perMinute = (def: number): z.ZodType<number> =>
  z.coerce.number({ message: 'expected a whole number of requests per minute' }).int().min(1).max(1_000_000).default(def);

/** One TRUSTED_PROXIES entry: an address, a CIDR range, or one of Express's named ranges. */
function isProxyEntry(entry: string): boolean {
  if (entry === 'loopback' || entry === 'linklocal' || entry === 'uniquelocal') return true;
  const [addr, bits, extra] = entry.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const url = (what: string): z.ZodString =>
  z.string().url({ message: `expected ${what}` });

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(0).max(65535).default(DEV_DEFAULTS.port),
    HOST: z.string().min(1).default('0.0.0.0'),
    PUBLIC_BASE_URL: url('an absolute http(s) URL such as https://ahl.example.org').optional(),
    DATABASE_URL: url('a postgres:// URL')
      .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'expected a postgres:// URL' })
      .default('postgres://postgres@127.0.0.1:5432/test'),
    DATABASE_TENANT_URL: url('a postgres:// URL that logs in as ahl_tenant')
      .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'expected a postgres:// URL' })
      .optional(),
    DATABASE_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'expected a lower-case SQL identifier' })
      .default('public'),
    REDIS_URL: url('a redis:// URL')
      .refine((v) => /^rediss?:\/\//.test(v), { message: 'expected a redis:// or rediss:// URL' })
      .default('redis://127.0.0.1:6379'),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,40}:$/, { message: 'expected a short prefix ending in ":" (no other ":")' })
      .default('ahl:'),
    TWILIO_ACCOUNT_SID: z
      .string()
      .regex(/^AC[0-9a-f]{32}$/, { message: 'expected AC followed by 32 lower-case hex characters' })
      .optional(),
    TWILIO_AUTH_TOKEN: z.string().min(16, { message: 'expected the account auth token (16+ characters)' }).optional(),
    TWILIO_AUTH_TOKEN_SECONDARY: z
      .string()
      .min(16, { message: 'expected a second auth token (16+ characters), accepted during rotation' })
      .optional(),
    TWILIO_API_BASE_URL: url('an absolute URL of the Twilio REST API').default('https://api.twilio.com'),
    AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'expected an AWS region such as us-east-1' }).default('us-east-1'),
    S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'expected an S3 bucket name' }).optional(),
    S3_ENDPOINT: url('an absolute URL of an S3-compatible endpoint').optional(),
    KMS_KEY_ID: z.string().min(1).optional(),
    KMS_ENDPOINT: url('an absolute URL of a KMS-compatible endpoint').optional(),
    BLIND_INDEX_KEY: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, { message: 'expected 32 bytes, base64-encoded (44 characters)' })
      .optional(),
    DATA_DIR: z.string().min(1).default('.data'),
    CALLFLOWS_DIR: z.string().min(1).default('callflows'),
    AUDIO_DIR: z.string().min(1).default('audio'),
    CONSOLE_DIR: z.string().min(1).default('web/dist'),
    LOCAL_MASTER_KEY_FILE: z.string().min(1).optional(),
    LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
    SEED_DEMO: bool(true), // unset under NODE_ENV=production: false (loadConfig)
    FALLBACK_NUMBER: z.string().regex(E164, { message: 'expected an E.164 number such as +12025550199' }).optional(),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    RVM_API_URL: url('an absolute URL of the ringless-voicemail vendor API').optional(),
    RVM_API_KEY: z.string().min(16, { message: 'expected the vendor API key (16+ characters)' }).optional(),
    RVM_WEBHOOK_SECRET: z.string().min(16, { message: 'expected the vendor webhook signing secret (16+ characters)' }).optional(),
    TRUSTED_PROXIES: z
      .string()
      .refine((v) => v.split(',').every((p) => isProxyEntry(p.trim())), {
        message: 'expected a comma-separated list of IP addresses, CIDR ranges, loopback, linklocal or uniquelocal',
      })
      .optional(),
    RATE_LIMIT_API_PER_SOURCE: perMinute(1200),
    RATE_LIMIT_API_PER_KEY: perMinute(600),
    RATE_LIMIT_AUTH_FAILURES_PER_SOURCE: perMinute(60),
    RATE_LIMIT_TWILIO_UNSIGNED_PER_SOURCE: perMinute(60),
    RATE_LIMIT_SIGN_IN_PER_SOURCE: perMinute(30),
    RATE_LIMIT_UNSUBSCRIBE_PER_SOURCE: perMinute(60),
    RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT: z.coerce.number({ message: 'expected a whole number of failed sign-ins per 15 minutes' }).int().min(1).max(1000).default(10),
    AUDIT_REFUSALS_IN_FULL_PER_MINUTE: z.coerce.number({ message: 'expected a whole number' }).int().min(0).max(1000).default(20),
    METRICS_TOKEN: z.string().regex(/^[\x21-\x7e]{24,512}$/, { message: 'expected a bearer token of 24 to 512 printable characters, no spaces' }).optional(),
    METRICS_PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(0).max(65535).optional(),
    METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    AUDIT_CHECKPOINT_FILE: z.string().min(1).optional(),
    AUDIT_CHECKPOINT_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'expected an S3 bucket name (with Object Lock enabled)' }).optional(),
    SMTP_URL: url('an smtp:// or smtps:// URL')
      .refine((v) => /^smtps?:\/\//.test(v), { message: 'expected an smtp:// or smtps:// URL' })
      .optional(),
    SMTP_HOST: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, { message: 'expected a host name or address' }).optional(),
    SMTP_PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535).optional(),
    SMTP_SECURE: bool(false),
    /** Production requires TLS (STARTTLS or SMTPS) for the links' bearer tokens; this relaxes it, for a relay on this host only. */
    SMTP_ALLOW_PLAINTEXT_LOOPBACK: bool(false),
    SMTP_USER: z.string().min(1).max(256).optional(),
    SMTP_PASSWORD: z.string().min(1).max(256).optional(),
    SMTP_FROM: z.string().regex(/^[^\s<>@]+@[^\s<>@]+$|^[^<>]{0,80}<[^\s<>@]+@[^\s<>@]+>$/, { message: 'expected an address such as after-hours@example.org or Name <after-hours@example.org>' }).optional(),
    AUDIT_CHECKPOINT_RETAIN_DAYS: z.coerce.number({ message: 'expected a number of days' }).int().min(1).max(36_500).default(2_190),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production') {
      for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'PUBLIC_BASE_URL'] as const) {
        if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required when NODE_ENV=production' });
      }
      for (const name of ['TWILIO_AUTH_TOKEN', 'TWILIO_AUTH_TOKEN_SECONDARY'] as const) {
        if (env[name] === DEV_TWILIO_AUTH_TOKEN) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'the development token is refused in production' });
        }
      }
      if (env.PUBLIC_BASE_URL && !env.PUBLIC_BASE_URL.startsWith('https://')) {
        ctx.addIssue({ code: 'custom', path: ['PUBLIC_BASE_URL'], message: 'expected an https:// URL in production' });
      }
    }
    if (env.KMS_KEY_ID && !env.BLIND_INDEX_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['BLIND_INDEX_KEY'],
        message: 'required when KMS_KEY_ID is set (the caller-ID index key must not live on local disk)',
      });
    }
    if (env.S3_ENDPOINT && !env.S3_BUCKET) {
      ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'required when S3_ENDPOINT is set' });
    }
    if (env.RVM_API_URL && !env.RVM_API_KEY) {
      ctx.addIssue({ code: 'custom', path: ['RVM_API_KEY'], message: 'required when RVM_API_URL is set' });
    }
    if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: 'expected a port other than PORT' });
    }
    if (env.SMTP_URL && env.SMTP_HOST) {
      ctx.addIssue({ code: 'custom', path: ['SMTP_HOST'], message: 'set either SMTP_URL or SMTP_HOST, not both' });
    }
    if ((env.SMTP_URL || env.SMTP_HOST) && !env.SMTP_FROM) {
      ctx.addIssue({ code: 'custom', path: ['SMTP_FROM'], message: 'required when SMTP_URL or SMTP_HOST is set (the sender of invitations and password resets)' });
    }
    if (!env.SMTP_HOST && (env.SMTP_PORT !== undefined || env.SMTP_USER || env.SMTP_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['SMTP_HOST'], message: 'required when SMTP_PORT, SMTP_USER or SMTP_PASSWORD is set' });
    }
    if (env.SMTP_ALLOW_PLAINTEXT_LOOPBACK && !isLoopbackHost(smtpHostOf(env))) {
      ctx.addIssue({ code: 'custom', path: ['SMTP_ALLOW_PLAINTEXT_LOOPBACK'], message: 'only for an SMTP relay on this host (localhost, 127.0.0.1 or ::1)' });
    }
    if (env.SMTP_USER && !env.SMTP_PASSWORD) {
      ctx.addIssue({ code: 'custom', path: ['SMTP_PASSWORD'], message: 'required when SMTP_USER is set' });
    }
    if (env.RVM_API_URL && !env.RVM_WEBHOOK_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['RVM_WEBHOOK_SECRET'], message: 'required when RVM_API_URL is set (vendor status webhooks are signed with it)' });
    }
  });

/** `url` logging in as `ahl_tenant` (no password: trust or peer authentication, as in development and CI). */
function asTenant(url: string): string {
  const u = new URL(url);
  u.username = 'ahl_tenant';
  u.password = '';
  return u.toString();
}

export interface Config {
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  /** The base URL Twilio requests and signs; never derived from the request. No trailing slash. */
  publicBaseUrl: string;
  /**
   * `url`: the tables' owner (migrations) and, in the `ahl_system` role, workers and sweeps.
   * `tenantUrl`: logs in as `ahl_tenant` itself, so a request's connection has no other role to
   * return to (default: `url` with the user name `ahl_tenant`).
   */
  database: { url: string; tenantUrl: string; schema: string };
  redis: { url: string; keyPrefix: string };
  twilio: {
    accountSid: string;
    /** Tokens accepted for signatures: the current one first, then the one being rotated in or out. */
    authTokens: string[];
    apiBaseUrl: string;
  };
  aws: { region: string; s3Bucket?: string; s3Endpoint?: string; kmsKeyId?: string; kmsEndpoint?: string };
  blindIndexKey?: Buffer;
  dataDir: string;
  callflowsDir: string;
  audioDir: string;
  /** The staff console's built bundle (web/ built by Vite), served at /console/. */
  consoleDir: string;
  localMasterKeyFile: string;
  logLevel: string;
  seedDemo: boolean;
  fallbackNumber?: string;
  shutdownTimeoutMs: number;
  /** Ringless-voicemail vendor over HTTP (src/drops/providers/http-provider.ts); all unset: no vendor. */
  rvm: { apiUrl?: string; apiKey?: string; webhookSecret?: string };
  /** Proxies whose X-Forwarded-For names the client (Express's `trust proxy`); empty: the socket's address is the source. */
  trustedProxies: string[];
  /** Requests per source or key per minute (./http/rate-limit.ts). */
  rateLimits: { apiPerSource: number; apiPerKey: number; authFailuresPerSource: number; twilioUnsignedPerSource: number; signInPerSource: number; signInFailuresPerAccount: number; unsubscribePerSource: number };
  /** Refusals per source per minute audited one row each; the rest only counted in the minute's summary row. */
  auditRefusalsInFullPerMinute: number;
  /** GET /metrics (src/http/metrics-routes.ts): behind the token; on its own port and host when `port` is set. */
  metrics: { token?: string; port?: number; host: string };
  /** Where audit chain heads are checkpointed (src/audit/checkpoints.ts): the file always, the Object Lock bucket when set. */
  auditCheckpoints: { file: string; bucket?: string; retainDays: number };
  /** Outgoing e-mail (invitations, password resets; src/adapters/mailer.ts); unset: links are shown to the admin instead. */
  smtp?: ({ url: string; from: string } | { host: string; port: number; secure: boolean; user?: string; password?: string; from: string }) & {
    /** Refuse to send without TLS (no clear-text fallback): production, unless SMTP_ALLOW_PLAINTEXT_LOOPBACK for a relay on this host. */
    requireTls: boolean;
  };
}

/** The SMTP server's host name, from SMTP_HOST or SMTP_URL (null: none, or an unreadable URL). */
function smtpHostOf(env: { SMTP_URL?: string | undefined; SMTP_HOST?: string | undefined }): string | null {
  if (env.SMTP_HOST) return env.SMTP_HOST;
  if (!env.SMTP_URL) return null;
  try {
    return new URL(env.SMTP_URL).hostname;
  } catch {
    return null;
  }
}

const isLoopbackHost = (host: string | null): boolean => host === 'localhost' || host === '[::1]' || host === '::1' || (host !== null && /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host));

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function smtpOf(e: z.output<typeof envSchema>): Pick<Config, 'smtp'> {
  if (!e.SMTP_FROM) return {};
  const requireTls = e.NODE_ENV === 'production' && !e.SMTP_ALLOW_PLAINTEXT_LOOPBACK;
  if (e.SMTP_URL) return { smtp: { url: e.SMTP_URL, from: e.SMTP_FROM, requireTls } };
  if (!e.SMTP_HOST) return {};
  return {
    smtp: {
      requireTls,
      host: e.SMTP_HOST,
      port: e.SMTP_PORT ?? (e.SMTP_SECURE ? 465 : 587),
      secure: e.SMTP_SECURE,
      ...(e.SMTP_USER ? { user: e.SMTP_USER } : {}),
      ...(e.SMTP_PASSWORD ? { password: e.SMTP_PASSWORD } : {}),
      from: e.SMTP_FROM,
    },
  };
}

/** Pure: environment in, config out, or a ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        // Never echo the value: it may be a secret.
        return `${name}: ${issue.message}`;
      }),
    );
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const tokens = [e.TWILIO_AUTH_TOKEN ?? DEV_TWILIO_AUTH_TOKEN];
  if (e.TWILIO_AUTH_TOKEN_SECONDARY) tokens.push(e.TWILIO_AUTH_TOKEN_SECONDARY);
  const config: Config = {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl: publicBaseUrlFor(e.PUBLIC_BASE_URL, e.PORT),
    database: { url: e.DATABASE_URL, tenantUrl: e.DATABASE_TENANT_URL ?? asTenant(e.DATABASE_URL), schema: e.DATABASE_SCHEMA },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    twilio: {
      accountSid: e.TWILIO_ACCOUNT_SID ?? DEV_TWILIO_ACCOUNT_SID,
      authTokens: tokens,
      apiBaseUrl: e.TWILIO_API_BASE_URL.replace(/\/+$/, ''),
    },
    aws: {
      region: e.AWS_REGION,
      ...(e.S3_BUCKET ? { s3Bucket: e.S3_BUCKET } : {}),
      ...(e.S3_ENDPOINT ? { s3Endpoint: e.S3_ENDPOINT } : {}),
      ...(e.KMS_KEY_ID ? { kmsKeyId: e.KMS_KEY_ID } : {}),
      ...(e.KMS_ENDPOINT ? { kmsEndpoint: e.KMS_ENDPOINT } : {}),
    },
    ...(e.BLIND_INDEX_KEY ? { blindIndexKey: Buffer.from(e.BLIND_INDEX_KEY, 'base64') } : {}),
    dataDir,
    callflowsDir: path.resolve(e.CALLFLOWS_DIR),
    audioDir: path.resolve(e.AUDIO_DIR),
    consoleDir: path.resolve(e.CONSOLE_DIR),
    localMasterKeyFile: path.resolve(e.LOCAL_MASTER_KEY_FILE ?? path.join(dataDir, 'master.key')),
    logLevel: e.LOG_LEVEL,
    // A production start on an empty database must not invent a practice unless asked to.
    seedDemo: cleaned.SEED_DEMO === undefined && e.NODE_ENV === 'production' ? false : e.SEED_DEMO,
    ...(e.FALLBACK_NUMBER ? { fallbackNumber: e.FALLBACK_NUMBER } : {}),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    rvm: {
      ...(e.RVM_API_URL ? { apiUrl: e.RVM_API_URL.replace(/\/+$/, '') } : {}),
      ...(e.RVM_API_KEY ? { apiKey: e.RVM_API_KEY } : {}),
      ...(e.RVM_WEBHOOK_SECRET ? { webhookSecret: e.RVM_WEBHOOK_SECRET } : {}),
    },
    trustedProxies: (e.TRUSTED_PROXIES ?? '').split(',').map((p) => p.trim()).filter((p) => p !== ''),
    rateLimits: {
      apiPerSource: e.RATE_LIMIT_API_PER_SOURCE,
      apiPerKey: e.RATE_LIMIT_API_PER_KEY,
      authFailuresPerSource: e.RATE_LIMIT_AUTH_FAILURES_PER_SOURCE,
      twilioUnsignedPerSource: e.RATE_LIMIT_TWILIO_UNSIGNED_PER_SOURCE,
      signInPerSource: e.RATE_LIMIT_SIGN_IN_PER_SOURCE,
      signInFailuresPerAccount: e.RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT,
      unsubscribePerSource: e.RATE_LIMIT_UNSUBSCRIBE_PER_SOURCE,
    },
    auditRefusalsInFullPerMinute: e.AUDIT_REFUSALS_IN_FULL_PER_MINUTE,
    metrics: {
      ...(e.METRICS_TOKEN ? { token: e.METRICS_TOKEN } : {}),
      ...(e.METRICS_PORT !== undefined ? { port: e.METRICS_PORT } : {}),
      host: e.METRICS_HOST,
    },
    auditCheckpoints: {
      file: path.resolve(e.AUDIT_CHECKPOINT_FILE ?? path.join(dataDir, 'audit-checkpoints.jsonl')),
      ...(e.AUDIT_CHECKPOINT_BUCKET ? { bucket: e.AUDIT_CHECKPOINT_BUCKET } : {}),
      retainDays: e.AUDIT_CHECKPOINT_RETAIN_DAYS,
    },
    ...smtpOf(e),
  };
  return config;
}
