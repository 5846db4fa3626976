import type middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import { awsEndpoint, type Env } from './config';
import { readSetting } from './settings';
import { MissingSecretError } from '../errors';

/** The five keys of the Secrets Manager secret (or of the environment, in local runs). */
export const SECRET_NAMES = [
  'SLACK_SIGNING_SECRET',
  'SLACK_BOT_TOKEN',
  'PAGER_DUTY_SIGNING_KEY',
  'PAGER_DUTY_EVENTS_API_KEY',
  'PAGER_DUTY_REST_API_KEY',
] as const;

export type SecretName = (typeof SECRET_NAMES)[number];

/**
 * The two halves of a split layout: what the public-facing ingress functions need (to check
 * requests) and what the workers need (to call Slack and PagerDuty). With split secrets each
 * half is its own secret, and IAM lets each function read only its half.
 */
export const SIGNING_SECRET_NAMES = ['SLACK_SIGNING_SECRET', 'PAGER_DUTY_SIGNING_KEY'] as const satisfies readonly SecretName[];
export const API_TOKEN_NAMES = ['SLACK_BOT_TOKEN', 'PAGER_DUTY_EVENTS_API_KEY', 'PAGER_DUTY_REST_API_KEY'] as const satisfies readonly SecretName[];
export type Secrets<K extends SecretName = SecretName> = Readonly<Record<K, string>>;

/** The context property the secrets middleware fills. */
export interface SecretsContext<K extends SecretName> {
  secrets: Secrets<K>;
}

/** Take the named keys out of `source`, failing with an error that names the first missing key. */
export function pickSecrets<K extends SecretName>(source: unknown, names: readonly K[], where: string): Secrets<K> {
  const record = source !== null && typeof source === 'object' ? (source as Record<string, unknown>) : {};
  const picked = {} as Record<K, string>;
  for (const name of names) {
    const value = record[name];
    if (typeof value !== 'string' || value.trim() === '') throw new MissingSecretError(name, where);
    picked[name] = value;
  }
  return picked;
}

/** How long a fetched secret is trusted before it is read again (picks up rotation). */
const SECRET_CACHE_MS = 15 * 60 * 1000;

/**
 * Middleware that puts the named secrets on `context.secrets`. With SECRETS_MANAGER_SECRET_ID set
 * they come from that one secret, fetched at cold start and cached; without it, from the
 * environment variables of the same names (local runs).
 */
export function secretsMiddleware<K extends SecretName>(env: Env, names: readonly K[]): middy.MiddlewareObj {
  const secretId = readSetting(env, 'SECRETS_MANAGER_SECRET_ID');
  if (!secretId) {
    return {
      before: (request) => {
        Object.assign(request.context, { secrets: pickSecrets(env, names, 'the environment') });
      },
    };
  }
  const fetch = secretsManager({
    awsClientOptions: awsEndpoint(env, 'SECRETS_MANAGER'),
    fetchData: { pdRouterSecrets: secretId },
    setToContext: true,
    cacheExpiry: SECRET_CACHE_MS,
    // middy's cache is per process; key it by secret so two ids never share a value.
    cacheKey: `pd-router-secrets:${secretId}`,
  });
  return {
    before: async (request) => {
      await fetch.before?.(request as never);
      const context = request.context as unknown as Record<string, unknown>;
      const fetched = context.pdRouterSecrets;
      delete context.pdRouterSecrets;
      Object.assign(context, { secrets: pickSecrets(fetched, names, 'the Secrets Manager secret') });
    },
  };
}
