import type { IncomingMessage } from 'node:http';
import type { Env } from '../../lib/runtime/config';
import { startStack, type LocalStack, type StackOptions } from '../../local/stack';
import { listen, readBody, type RunningServer } from '../../local/stand-ins/http-util';
import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { SlackStandIn } from '../../local/stand-ins/slack';
import { FIRST_INCIDENT_NUMBER } from '../../local/world/world';

/**
 * The router configured like production (the five secrets and the three API URLs in its
 * environment, no sandbox), talking to stand-ins that outlive it: they play the real Slack and
 * PagerDuty, which keep their state while the router is stopped and started again. Optional
 * recording proxies in front of them keep every request exactly as it left the router.
 */

export interface RecordedRequest {
  target: 'slack' | 'pagerduty';
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface ExternalWorld {
  secrets: Record<'SLACK_SIGNING_SECRET' | 'SLACK_BOT_TOKEN' | 'PAGER_DUTY_SIGNING_KEY' | 'PAGER_DUTY_EVENTS_API_KEY' | 'PAGER_DUTY_REST_API_KEY', string>;
  slack: SlackStandIn;
  pagerDuty: PagerDutyStandIn;
  requests: RecordedRequest[];
  /** The environment the router starts with: secrets and API URLs (through the proxies). */
  env: Env;
  /** Start (or start again) the router; with `port`, on that port, so PagerDuty's webhook URL stays valid. */
  startRouter(options?: StackOptions): Promise<LocalStack>;
  stop(): Promise<void>;
}

async function recordingProxy(target: RecordedRequest['target'], upstream: () => string, requests: RecordedRequest[]): Promise<RunningServer> {
  return listen(async (request: IncomingMessage, response) => {
    const body = await readBody(request, 10 * 1024 * 1024);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.headers)) if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(',') : value;
    requests.push({ target, method: request.method ?? 'GET', url: request.url ?? '/', headers, body: body.toString('utf8') });
    const forward: Record<string, string> = {};
    for (const [key, value] of Object.entries(headers)) if (!['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(key)) forward[key] = value;
    const answer = await fetch(`${upstream()}${request.url ?? '/'}`, { method: request.method ?? 'GET', headers: forward, ...(body.length ? { body: new Uint8Array(body) } : {}) });
    const out: Record<string, string> = {};
    answer.headers.forEach((value, key) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding', 'keep-alive'].includes(key)) out[key] = value;
    });
    const bytes = Buffer.from(await answer.arrayBuffer());
    response.writeHead(answer.status, out);
    response.end(bytes);
  });
}

export async function startExternalWorld(secrets: ExternalWorld['secrets'], options: { record?: boolean } = {}): Promise<ExternalWorld> {
  const slack = await new SlackStandIn({ botToken: secrets.SLACK_BOT_TOKEN }).start();
  const pagerDuty = await new PagerDutyStandIn({ routingKey: secrets.PAGER_DUTY_EVENTS_API_KEY, restToken: secrets.PAGER_DUTY_REST_API_KEY, firstNumber: FIRST_INCIDENT_NUMBER }).start();
  const requests: RecordedRequest[] = [];
  const proxies = options.record ? [await recordingProxy('slack', () => slack.url, requests), await recordingProxy('pagerduty', () => pagerDuty.url, requests)] : [];
  const slackBase = proxies[0]?.url ?? slack.url;
  const pagerDutyBase = proxies[1]?.url ?? pagerDuty.url;
  const env: Env = { ...secrets, SLACK_API_URL: `${slackBase}/api/`, PAGER_DUTY_EVENTS_URL: pagerDutyBase, PAGER_DUTY_API_URL: pagerDutyBase };
  let port = 0;
  return {
    secrets,
    slack,
    pagerDuty,
    requests,
    env,
    async startRouter(stackOptions: StackOptions = {}) {
      const stack = await startStack({ visibilityTimeoutSeconds: 5, retryBaseSeconds: 0, logLevel: 'silent', ...stackOptions, env: { ...env, ...(stackOptions.env ?? {}) }, port });
      port = Number(new URL(stack.url).port);
      pagerDuty.webhook = { url: `${stack.url}/pagerduty/webhooks`, signingKey: secrets.PAGER_DUTY_SIGNING_KEY };
      // Seen from the tests, the stand-ins belong to this router; idle means PagerDuty's webhooks are answered too.
      return {
        ...stack,
        slack,
        pagerDuty,
        async waitForIdle(timeoutMs?: number) {
          for (let round = 0; round < 2; round++) {
            await pagerDuty.deliveriesSettled();
            await stack.waitForIdle(timeoutMs);
          }
        },
      };
    },
    async stop() {
      for (const proxy of proxies) await proxy.close();
      await pagerDuty.stop();
      await slack.stop();
    },
  };
}
