import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Slack's published Web API description (specs/SOURCES.md): each method's scopes under `security.slackAuth`. */
export const SLACK_WEB_API_SPEC = path.join(__dirname, 'specs', 'slack-web-openapi-v2.json');

/** The description predates granular bot scopes: its legacy names, as a token holds them today. */
const TODAYS_NAME: Readonly<Record<string, string>> = {
  'chat:write:bot': 'chat:write',
  'chat:write:user': 'chat:write',
  'files:write:user': 'files:write',
};

interface SwaggerOperation {
  security?: { slackAuth?: string[] }[];
}

let byMethod: ReadonlyMap<string, readonly string[]> | undefined;

/**
 * Each Web API method the description knows, with the scopes that allow it: any ONE of them is
 * enough (conversations.history lists channels:history, groups:history, im:history and
 * mpim:history, one per conversation type; Slack's method pages say the same). An empty list: no
 * scope needed (`none`, as auth.test). Parsed once per process.
 */
export function methodScopes(): ReadonlyMap<string, readonly string[]> {
  if (byMethod) return byMethod;
  const spec = JSON.parse(readFileSync(SLACK_WEB_API_SPEC, 'utf8')) as { paths: Record<string, Record<string, SwaggerOperation>> };
  const methods = new Map<string, readonly string[]>();
  for (const [route, operations] of Object.entries(spec.paths)) {
    const scopes = new Set<string>();
    for (const operation of Object.values(operations)) {
      for (const requirement of operation.security ?? []) for (const scope of requirement.slackAuth ?? []) if (scope !== 'none') scopes.add(TODAYS_NAME[scope] ?? scope);
    }
    methods.set(route.replace(/^\//, ''), [...scopes]);
  }
  byMethod = methods;
  return methods;
}

export type ScopeCheck = { allowed: true } | { allowed: false; needed: string; provided: string } | { allowed: 'unknown' };

/**
 * May a token holding `granted` call `method`? Refused like Slack's `missing_scope`: `needed` names
 * the scopes that would do (comma-joined), `provided` the token's. A method the description does
 * not know is 'unknown' (Slack answers `unknown_method`).
 */
export function scopeCheck(method: string, granted: readonly string[]): ScopeCheck {
  const needs = methodScopes().get(method);
  if (!needs) return { allowed: 'unknown' };
  if (needs.length === 0 || needs.some((scope) => granted.includes(scope))) return { allowed: true };
  return { allowed: false, needed: needs.join(','), provided: granted.join(',') };
}
