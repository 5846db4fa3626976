import { signSlackRequest } from '../lib/slack/signature';
import { readSandboxState } from '../local/sandbox-state';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';

/**
 * `npm run escalate -- <channel> "<description>"`: send a signed `app_mention` to a running
 * pd-router, as Slack would. With a sandbox running it signs with the sandbox's secret;
 * otherwise set PD_ROUTER_URL and SLACK_SIGNING_SECRET.
 */
async function main() {
  const [channel = 'CACME', ...words] = process.argv.slice(2);
  const description = words.join(' ') || 'API is returning 500 errors';
  const sandbox = readSandboxState();
  const url = process.env.PD_ROUTER_URL ?? sandbox?.url ?? 'http://127.0.0.1:3000';
  const secret = process.env.SLACK_SIGNING_SECRET ?? sandbox?.slackSigningSecret;
  if (!secret) throw new Error('no running sandbox found: start one with `npm start`, or set SLACK_SIGNING_SECRET');
  const now = Math.floor(Date.now() / 1000);
  let ts = `${now}.000100`;
  if (sandbox) {
    // Give the mention a place in the stand-in's channel, so the thread has a parent.
    const response = await fetch(`${sandbox.slackApiUrl.replace(/\/api\/$/, '')}/sandbox/customer-message`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel, user: 'UCUSTOMER', text: `<@${STAND_IN_BOT_USER_ID}> escalate ${description}` }),
    }).catch(() => undefined);
    if (response?.ok) ts = ((await response.json()) as { ts: string }).ts;
  }
  const body = JSON.stringify({
    type: 'event_callback',
    team_id: 'TSANDBOX',
    api_app_id: 'ASANDBOX',
    event_id: `Ev${Date.now().toString(36)}`,
    event_time: now,
    authorizations: [{ team_id: 'TSANDBOX', user_id: STAND_IN_BOT_USER_ID, is_bot: true }],
    event: { type: 'app_mention', user: 'UCUSTOMER', text: `<@${STAND_IN_BOT_USER_ID}> escalate ${description}`, ts, channel, team: 'TSANDBOX', event_ts: ts },
  });
  const response = await fetch(`${url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signSlackRequest(secret, body, now) as Record<string, string>) },
    body,
  });
  process.stdout.write(`POST ${url}/slack/events → ${response.status} ${await response.text()}\n`);
  if (!response.ok) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
