import { startStack, type LocalStack } from '../../local/stack';
import type { RateLimitRules } from '../../local/stand-ins/rate-limits';
import { audit } from '../../local/world/audit';
import type { World } from '../../local/world/world';

/** A local stack whose stand-ins enforce `rules`, with no backoff of pd-router's own: every wait comes from a limit. */
export function limitedStack(rules: Partial<RateLimitRules>, env?: Record<string, string>): Promise<LocalStack> {
  return startStack({ visibilityTimeoutSeconds: 10, retryBaseSeconds: 0, logLevel: 'silent', ...(env ? { env } : {}), standIns: { rateLimits: rules } });
}

/** Another app of the workspace posts in `channel`: it spends the channel's limit, and is none of pd-router's messages. */
export function postAsAnotherApp(stack: LocalStack, channel: string) {
  return fetch(`${stack.slack!.apiUrl}chat.postMessage`, { method: 'POST', headers: { authorization: `Bearer ${stack.secrets.SLACK_BOT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel, text: 'another app' }) });
}

export async function expectNothingLostOrDoubled(world: World) {
  const report = await audit(world);
  expect(report.duplicates).toEqual([]);
  expect(report.misroutes).toEqual([]);
  expect(report.lost).toEqual([]);
  expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
}

/** One incident holding every channel's escalation, then resolved; returns when the resolve was made. */
export async function mergeAndResolve(stack: LocalStack, escalations: { dedupKey: string }[]): Promise<number> {
  const pagerDuty = stack.pagerDuty!;
  const internal = pagerDuty.openInternal('INTERNAL: shared cluster down');
  for (const escalation of escalations) pagerDuty.merge(pagerDuty.byKey(escalation.dedupKey)!.id, internal.id);
  await stack.waitForIdle(180_000);
  const resolvedAt = Date.now();
  pagerDuty.resolve(internal.id);
  return resolvedAt;
}

export const confirmationOf = (stack: LocalStack, escalation: { channel: string; dedupKey: string }) =>
  stack.slack!.channelMessages(escalation.channel).find((m) => m.metadata?.event_payload.key === `confirm:${escalation.dedupKey}`)!;
