import { randomBytes } from 'node:crypto';
import type { Env } from '../../lib/runtime/config';
import type { Secrets } from '../../lib/runtime/secrets';
import { LOCAL_AWS_ENV, startLocalDynamo, startLocalSqs, type LocalDynamo, type LocalSqs } from '../../local/aws';
import { localAwsEnv } from '../../local/stack';
import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { SlackStandIn } from '../../local/stand-ins/slack';

/** Everything the functions talk to, on loopback, without the stack's router and pollers: nothing consumes the queues. */
export interface BenchEnvironment {
  /** The variables a deployed function would get (queue URLs, table, API URLs, secrets, endpoints). */
  env: Env;
  secrets: Secrets;
  sqs: LocalSqs;
  dynamo: LocalDynamo;
  slack: SlackStandIn;
  pagerDuty: PagerDutyStandIn;
  stop(): Promise<void>;
}

export function makeSecrets(): Secrets {
  const secret = () => randomBytes(18).toString('hex');
  return {
    SLACK_SIGNING_SECRET: secret(),
    SLACK_BOT_TOKEN: `xoxb-bench-${secret()}`,
    PAGER_DUTY_SIGNING_KEY: secret(),
    PAGER_DUTY_EVENTS_API_KEY: secret(),
    PAGER_DUTY_REST_API_KEY: secret(),
  };
}

/** The AWS variables every process of the benchmark uses: fake credentials and a region. */
export const BENCH_AWS_ENV = { ...LOCAL_AWS_ENV } as const;

export async function startBenchEnvironment(options: { latencyMs: number; stage?: string }): Promise<BenchEnvironment> {
  for (const [key, value] of Object.entries(BENCH_AWS_ENV)) process.env[key] ??= value;
  const stage = options.stage ?? 'bench';
  const secrets = makeSecrets();
  const [dynamo, sqs] = await Promise.all([startLocalDynamo({ stage }), startLocalSqs({ stage, visibilityTimeoutSeconds: 30 })]);
  const slack = await new SlackStandIn({ botToken: secrets.SLACK_BOT_TOKEN, latencyMs: options.latencyMs }).start();
  const pagerDuty = await new PagerDutyStandIn({ routingKey: secrets.PAGER_DUTY_EVENTS_API_KEY, restToken: secrets.PAGER_DUTY_REST_API_KEY, latencyMs: options.latencyMs }).start();
  const env: Env = {
    ...BENCH_AWS_ENV,
    ...secrets,
    LOG_LEVEL: 'info',
    ...localAwsEnv(sqs, dynamo),
    SLACK_API_URL: slack.apiUrl,
    PAGER_DUTY_EVENTS_URL: pagerDuty.url,
    PAGER_DUTY_API_URL: pagerDuty.url,
  };
  return {
    env,
    secrets,
    sqs,
    dynamo,
    slack,
    pagerDuty,
    async stop() {
      await pagerDuty.stop();
      await slack.stop();
      await sqs.stop();
      await dynamo.stop();
    },
  };
}
