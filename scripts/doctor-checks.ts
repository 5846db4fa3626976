import type { QueueName } from '../lib/layout/layout';
import { PdRouterError } from '../lib/errors';
import type { SecretName } from '../lib/runtime/secrets';
import { isWellFormedRoutingKey } from '../lib/store/customers';
import { coverageOf, holderName, keyHolders, subscriptionProblems, type ServiceKeys, type WebhookSubscription } from './webhook-coverage';

export type { WebhookSubscription } from './webhook-coverage';

/**
 * The checks of `npm run doctor`, with everything they read passed in: the command wires them to
 * the local stack or to a deployed stage, the tests to stand-ins. No dependency here writes.
 */

export type CheckStatus = 'ok' | 'fail' | 'skipped';

export interface CheckResult {
  status: CheckStatus;
  /** One line: what was found (never a secret value). */
  summary: string;
  /** For a failure: what to do. */
  fix?: string;
}

/** One secret the functions read, and the keys it must hold. */
export interface SecretSource {
  /** How the output names it: a secret id, or "the local sandbox". */
  where: string;
  names: readonly SecretName[];
  read: () => Promise<Record<string, unknown>>;
  /** What to run to put the keys there. */
  fix: string;
}

export interface SlackProbe {
  /** auth.test: the bot's identity and the scopes Slack reports for the token (undefined when it reports none). */
  authTest(): Promise<{ user?: string; team?: string; scopes?: string[] }>;
  /** Whether the bot is a member of the channel (conversations.info's is_member). */
  isMember(channel: string): Promise<boolean>;
}

export interface PagerDutyProbe {
  /** A read that only a working REST key can do. */
  probe(): Promise<void>;
  /** Every webhook subscription of the account. */
  subscriptions(): Promise<WebhookSubscription[]>;
  /** Every service of the account with its integration keys (GET /services?include[]=integrations). */
  services(): Promise<ServiceKeys[]>;
}

export interface DlqState {
  queue: QueueName;
  name: string;
  count: number;
  /** Age in ms of the oldest message seen, when any was. */
  oldestAgeMs?: number;
}

export interface AlarmTopic {
  arn: string;
  confirmed: number;
  pending: number;
}

export interface DoctorDeps {
  /** One secret (the single layout) or two (split). */
  secrets: readonly SecretSource[];
  slack: (token: string) => SlackProbe;
  pagerDuty: (restKey: string) => PagerDutyProbe;
  /** The registered customers: channel and own routing key (if any). */
  customers: () => Promise<{ channel: string; name?: string; routingKey?: unknown }[]>;
  dlqs: () => Promise<DlqState[]>;
  /** The topics the alarms notify; undefined for the local stack, which has none. */
  alarmTopics?: () => Promise<AlarmTopic[]>;
  /** This stack's `/pagerduty/webhooks` URL. */
  webhookUrl: string;
  /** The bot scopes slack-app-manifest.yaml asks for. */
  manifestScopes: readonly string[];
  /** `npm run dlq -- list` with this target's flags. */
  dlqCommand: string;
  /** ` -- --stage <s> --region <r>` for a deployed stage; none for the local stack. */
  stageFlags?: string;
  timeoutMs: number;
}

export interface NamedResult extends CheckResult {
  name: string;
}

class CheckTimeout extends Error {}

/** `promise`, or a rejection saying it did not answer within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${Math.round(ms / 100) / 10}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An error as one line, without anything but its name, code and message. */
export function describeError(error: unknown): string {
  // pd-router's own messages say what happened in full; a name in front would only add noise.
  if (error instanceof CheckTimeout || error instanceof PdRouterError) return error.message;
  const e = error as { name?: string; code?: string; message?: string; data?: { error?: string } };
  const slackError = e?.data?.error;
  if (slackError) return `Slack answered ${slackError}`;
  const text = (e?.message ?? String(error)).split('\n')[0]!.slice(0, 200);
  const cause = (error as { cause?: { name?: string } })?.cause?.name;
  const line = e?.name && e.name !== 'Error' && !text.startsWith(e.name) ? `${e.name}: ${text}` : text;
  return cause && cause !== 'Error' ? `${line} (${cause})` : line;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const ok = (summary: string): CheckResult => ({ status: 'ok', summary });
const fail = (summary: string, fix: string): CheckResult => ({ status: 'fail', summary, fix });
const skipped = (summary: string): CheckResult => ({ status: 'skipped', summary });

/**
 * Run every check in order, each bounded by `deps.timeoutMs`. Later checks use what earlier ones
 * read (the keys, the customers); a check whose input is missing is skipped, saying which.
 */
export async function runChecks(deps: DoctorDeps): Promise<NamedResult[]> {
  const results: NamedResult[] = [];
  const run = async (name: string, check: () => Promise<CheckResult>) => {
    let result: CheckResult;
    try {
      result = await withTimeout(check(), deps.timeoutMs);
    } catch (error) {
      result = fail(`could not check: ${describeError(error)}`, 'make sure the service is reachable from here (and these credentials may read it), then run the doctor again');
    }
    results.push({ name, ...result });
  };

  const values: Partial<Record<SecretName, string>> = {};
  await run('secret keys', async () => {
    const problems: string[] = [];
    const fixes: string[] = [];
    let count = 0;
    for (const source of deps.secrets) {
      let stored: Record<string, unknown>;
      try {
        stored = await source.read();
      } catch (error) {
        problems.push(`${source.where} could not be read (${describeError(error)})`);
        fixes.push(source.fix);
        continue;
      }
      const missing = source.names.filter((name) => typeof stored[name] !== 'string' || (stored[name] as string).trim() === '');
      for (const name of source.names) if (!missing.includes(name)) values[name] = stored[name] as string;
      count += source.names.length - missing.length;
      if (missing.length) {
        problems.push(`${source.where} lacks ${missing.join(', ')} (missing or empty)`);
        fixes.push(source.fix);
      }
    }
    if (problems.length) return fail(problems.join('; '), fixes.join('; '));
    return ok(`all ${count} present and non-empty in ${deps.secrets.map((s) => s.where).join(' and ')}`);
  });

  const token = values.SLACK_BOT_TOKEN;
  const slack = token ? deps.slack(token) : undefined;
  let scopes: string[] | undefined;
  let slackWorks = false;
  await run('Slack auth.test', async () => {
    if (!slack) return skipped('needs SLACK_BOT_TOKEN (see secret keys)');
    try {
      const who = await slack.authTest();
      scopes = who.scopes;
      slackWorks = true;
      return ok(`the token works${who.user ? `: bot ${who.user}` : ''}${who.team ? ` in workspace ${who.team}` : ''}`);
    } catch (error) {
      // Only an answer from Slack says the token is bad; a 429, a timeout or no answer says nothing about it.
      if (!(error as { data?: { error?: string } })?.data?.error) throw error;
      return fail(
        `Slack refused the bot token: ${describeError(error)}`,
        "put the app's Bot User OAuth Token (xoxb-…, OAuth & Permissions page) into SLACK_BOT_TOKEN with `npm run secrets:put`; reinstall the app if it was revoked",
      );
    }
  });

  await run('Slack scopes', async () => {
    if (!slackWorks) return skipped('needs a working bot token (see Slack auth.test)');
    if (!scopes) return fail('Slack did not say which scopes the token has', 'reinstall the app from slack-app-manifest.yaml and put its new bot token in the secret');
    const missing = deps.manifestScopes.filter((scope) => !scopes!.includes(scope));
    if (missing.length) {
      return fail(
        `the token lacks ${missing.join(', ')} (slack-app-manifest.yaml asks for them)`,
        "add the missing scopes to the app (paste slack-app-manifest.yaml under App Manifest), reinstall it to the workspace, and put the new bot token into SLACK_BOT_TOKEN with `npm run secrets:put`",
      );
    }
    return ok(`the token has every scope the manifest asks for (${deps.manifestScopes.length})`);
  });

  let customers: { channel: string; routingKey?: unknown }[] | undefined;
  let customersError: string | undefined;
  const readCustomers = async () => {
    if (customers === undefined && customersError === undefined) {
      try {
        customers = await deps.customers();
      } catch (error) {
        customersError = describeError(error);
      }
    }
  };

  await run('bot in customer channels', async () => {
    if (!slackWorks) return skipped('needs a working bot token (see Slack auth.test)');
    await readCustomers();
    if (!customers) return fail(`could not read the customer registry: ${customersError}`, 'check the table exists and these credentials may read it (`npm run customers -- list`)');
    if (!customers.length) return ok('no customer channels registered yet');
    const outside: string[] = [];
    for (const { channel } of customers) {
      try {
        if (!(await slack!.isMember(channel))) outside.push(channel);
      } catch (error) {
        outside.push(`${channel} (${describeError(error)})`);
      }
    }
    if (outside.length) {
      return fail(
        `the bot is not in ${outside.length} of ${customers.length} registered channels: ${outside.join(', ')}`,
        'invite the app in each of them (`/invite @pd-router` in the channel), or remove the customer with `npm run customers -- remove <channel>`',
      );
    }
    return ok(`the bot is in all ${customers.length} registered channels`);
  });

  const restKey = values.PAGER_DUTY_REST_API_KEY;
  const pagerDuty = restKey ? deps.pagerDuty(restKey) : undefined;
  let restWorks = false;
  await run('PagerDuty REST key', async () => {
    if (!pagerDuty) return skipped('needs PAGER_DUTY_REST_API_KEY (see secret keys)');
    try {
      await pagerDuty.probe();
      restWorks = true;
      return ok('the key works');
    } catch (error) {
      if (!(error as { status?: number }).status || ![401, 403].includes((error as { status: number }).status)) throw error;
      return fail(
        `PagerDuty refused the REST API key: ${describeError(error)}`,
        'create a REST API key (PagerDuty: Integrations → API Access Keys; read-only is enough for the workers) and put it into PAGER_DUTY_REST_API_KEY with `npm run secrets:put`',
      );
    }
  });

  await run('PagerDuty webhook subscription', async () => {
    if (!restWorks) return skipped('needs a working REST key (see PagerDuty REST key)');
    const subscribe = `npm run pd:subscribe -- --url ${deps.webhookUrl} --service <id>, then put its signing secret into PAGER_DUTY_SIGNING_KEY`;
    const mine = (await pagerDuty!.subscriptions()).filter((s) => s.delivery_method?.url?.replace(/\/$/, '') === deps.webhookUrl);
    if (!mine.length) return fail(`no subscription delivers to ${deps.webhookUrl}`, subscribe);
    const problemsOf = subscriptionProblems;
    const good = mine.find((s) => !problemsOf(s).length);
    if (good) return ok(`${good.id} delivers to ${deps.webhookUrl}, enabled, with every handled event type`);
    const [first] = mine;
    const problems = problemsOf(first!);
    const disabled = first!.active === false || first!.delivery_method?.temporarily_disabled;
    return fail(
      `${first!.id} (to ${deps.webhookUrl}) ${problems.join('; ')}`,
      disabled
        ? `fix what failed the deliveries (\`${deps.dlqCommand}\`, the ingress logs), then enable it again: PagerDuty → Integrations → Generic Webhooks (v3) → the subscription → Enable (or POST /webhook_subscriptions/${first!.id}/enable)`
        : `edit the subscription's events in PagerDuty (Integrations → Generic Webhooks (v3)), or delete it and ${subscribe}`,
    );
  });

  await run('customer services covered', async () => {
    if (!restWorks) return skipped('needs a working REST key (see PagerDuty REST key)');
    await readCustomers();
    if (!customers) return fail(`could not read the customer registry: ${customersError}`, 'check the table exists and these credentials may read it (`npm run customers -- list`)');
    const holders = keyHolders(values.PAGER_DUTY_EVENTS_API_KEY, customers.filter((c) => isWellFormedRoutingKey(c.routingKey)));
    if (!holders.length) return skipped('no routing key to trace (see secret keys)');
    const [services, subscriptions] = [await pagerDuty!.services(), await pagerDuty!.subscriptions()];
    const results = coverageOf(holders, services, subscriptions, deps.webhookUrl);
    const unknown = results.filter((r) => r.state === 'unknown');
    const uncovered = results.flatMap((r) => (r.state === 'uncovered' ? [r] : []));
    const onDefault = customers.filter((c) => c.routingKey === undefined).length;
    if (!unknown.length && !uncovered.length) {
      const serviceCount = new Set(results.map((r) => (r.state === 'covered' ? r.service.id : ''))).size;
      return ok(`every routing key's service is subscribed to ${deps.webhookUrl} (${serviceCount} service${serviceCount === 1 ? '' : 's'}; ${onDefault} customer${onDefault === 1 ? '' : 's'} on the default key)`);
    }
    const problems = [
      ...uncovered.map((r) => `${holderName(r.holder)}: service ${r.service.name} (${r.service.id}) gets no webhooks (${r.why}): its channel hears acknowledgements only when the reconciler catches up, and status updates never`),
      ...unknown.map((r) => `${holderName(r.holder)}: its routing key is the integration key of no service this REST key can see (mistyped, deleted, or another PagerDuty account's)`),
    ];
    const fixes = [
      ...(uncovered.length ? [`npm run pd:subscribe${deps.stageFlags ?? ''} (creates a subscription for each service missing one), then add each signing secret it prints to PAGER_DUTY_SIGNING_KEY`] : []),
      ...(unknown.length ? ["copy the Integration Key of the service's Events API V2 integration and `npm run customers -- update <channel> --routing-key -` (the default key with `npm run secrets:put`)"] : []),
    ];
    return fail(problems.join('; '), fixes.join('; '));
  });

  await run('routing keys', async () => {
    await readCustomers();
    if (!customers) return fail(`could not read the customer registry: ${customersError}`, 'check the table exists and these credentials may read it (`npm run customers -- list`)');
    const bad = customers.filter((c) => c.routingKey !== undefined && !isWellFormedRoutingKey(c.routingKey)).map((c) => c.channel);
    const own = customers.filter((c) => c.routingKey !== undefined).length;
    const defaultKey = values.PAGER_DUTY_EVENTS_API_KEY;
    const defaultBad = defaultKey !== undefined && !isWellFormedRoutingKey(defaultKey);
    if (bad.length || defaultBad) {
      const what = [...(bad.length ? [`malformed routing key for ${bad.join(', ')}`] : []), ...(defaultBad ? ['PAGER_DUTY_EVENTS_API_KEY is not a well-formed routing key'] : [])];
      return fail(what.join('; '), "copy each key from the PagerDuty service's Events API v2 integration: `npm run customers -- update <channel> --routing-key <key>` (the default key with `npm run secrets:put`)");
    }
    return ok(`${customers.length} registered customers: ${own} with their own well-formed key, the others on the stage's default key`);
  });

  await run('DLQs', async () => {
    const dlqs = await deps.dlqs();
    const parked = dlqs.filter((d) => d.count > 0);
    if (!parked.length) return ok(`empty (${dlqs.map((d) => d.name).join(', ')})`);
    return fail(
      parked.map((d) => `${d.count} parked in ${d.name}${d.oldestAgeMs === undefined ? '' : `, the oldest ${age(d.oldestAgeMs)} old`}`).join('; '),
      `see what and why with \`${deps.dlqCommand}\`; fix the cause, then redrive (\`npm run dlq -- redrive --all\`)`,
    );
  });

  await run('alarm topic', async () => {
    if (!deps.alarmTopics) return skipped('only a deployed stage has one');
    const topics = await deps.alarmTopics();
    const deploy = 'deploy with --param="alarmEmail=<address>" (or alarmTopicArn=<topic>)';
    if (!topics.length) return fail('the alarms notify no topic: nobody hears them', deploy);
    const confirmed = topics.filter((t) => t.confirmed > 0);
    if (confirmed.length === topics.length) return ok(`${topics.map((t) => `${t.arn} (${t.confirmed} confirmed)`).join(', ')}`);
    const unconfirmed = topics.filter((t) => t.confirmed === 0);
    return fail(
      `no confirmed subscription on ${unconfirmed.map((t) => `${t.arn}${t.pending ? ` (${t.pending} pending confirmation)` : ''}`).join(', ')}`,
      unconfirmed.some((t) => t.pending) ? "click the link in AWS's \"Subscription Confirmation\" mail (or resend it from the SNS console)" : `subscribe someone to the topic, or ${deploy}`,
    );
  });

  return results;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', fail: '✗', skipped: '-' };

/** The report: one line per check (✓, ✗ or "skipped" with the reason), each ✗ followed by what to do. */
export function formatResults(results: readonly NamedResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${MARK[r.status]} ${r.name}: ${r.status === 'skipped' ? `skipped (${r.summary})` : r.summary}`);
    if (r.status === 'fail' && r.fix) lines.push(`    fix: ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  lines.push(failed ? `${failed} of ${results.length} checks failed` : `all checks passed${results.some((r) => r.status === 'skipped') ? ' (some skipped)' : ''}`);
  return lines;
}

/** Replace every occurrence of a secret value: the last guard before a line is printed. */
export function redact(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) if (secret.length >= 6) out = out.split(secret).join('[redacted]');
  return out;
}
