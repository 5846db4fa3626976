import type { SlackMessage, ChannelScope } from '../slack/web-api';
import type { Claim, Effects } from '../store/effects';

/**
 * The two ways pd-router says something exactly once, whatever retries and redeliveries come.
 * Every worker path that shows a channel something goes through one of them.
 */

/**
 * Post a message once per effect key. A retry after a crash between the post and its record finds
 * the post by the key it carries (Slack message metadata) instead of posting again.
 * Returns the post's ts, and whether this call made it.
 */
export async function postOnce(effects: Effects, scope: ChannelScope, effectKey: string, message: SlackMessage, threadTs?: string, ahead?: Claim): Promise<{ ts: string; performed: boolean }> {
  const { result, performed } = await effects.once(
    effectKey,
    () => scope.post(message, { effectKey, ...(threadTs ? { threadTs } : {}) }),
    (since) => scope.findByEffectKey(effectKey, since, threadTs),
    ahead,
  );
  return { ts: result, performed };
}

/**
 * Say something once that leaves nothing to find afterwards (an ephemeral answer, a response URL,
 * an edit): claimed first, so a retry does not repeat it; an attempt that crashed after acting
 * and before recording repeats it once at most, after the claim's lease.
 */
export async function answerOnce(effects: Effects, effectKey: string, answer: () => Promise<unknown>, outcome = 'answered'): Promise<boolean> {
  const { performed } = await effects.once(effectKey, async () => (await answer(), outcome), async () => undefined);
  return performed;
}
