import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../lib/events';
import { startStack } from './stack';
import { clearSandboxState, writeSandboxState } from './sandbox-state';
import { SANDBOX_CHANNELS, SANDBOX_CHANNEL_NAMES } from './sandbox-console/channels';
import { sandboxConsole } from './sandbox-console/routes';

/** `npm start`: the whole router on this machine, in sandbox mode when nothing is configured. */
async function main() {
  const port = Number(process.env.PORT ?? 3000);
  const stack = await startStack({
    port,
    ...(process.env.PD_ROUTER_DATA_DIR ? { dataDir: process.env.PD_ROUTER_DATA_DIR } : {}),
    retryBaseSeconds: Number(process.env.RETRY_BASE_SECONDS ?? 2),
    visibilityTimeoutSeconds: 30,
    // In sandbox mode the transcript is the point; set LOG_LEVEL=info to see the JSON logs too.
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    standIns: { print: (line) => process.stdout.write(`  ${line}\n`), channelNames: SANDBOX_CHANNEL_NAMES },
    // Served only in sandbox mode: the console answers nothing when real Slack is configured.
    routes: sandboxConsole({ channels: SANDBOX_CHANNELS }),
  });
  const lines = [
    `pd-router is listening on ${stack.url}`,
    `  POST ${stack.url}/slack/events`,
    `  POST ${stack.url}/pagerduty/webhooks`,
    `  GET  ${stack.url}/health`,
    `  DynamoDB (dynalite): ${stack.dynamo.endpoint}, table ${stack.dynamo.tableName}`,
    `  SQS (fauxqs): ${stack.sqs.endpoint}, queues ${Object.values(stack.sqs.queues).map((q) => q.url.split('/').pop()).join(', ')}`,
  ];
  if (stack.sandbox) {
    // As if `npm run pd:subscribe` had been run against the stand-in: the doctor finds it.
    stack.pagerDuty!.subscribe(`${stack.url}/pagerduty/webhooks`, PAGERDUTY_HANDLED_EVENT_TYPES);
    writeSandboxState({
      url: stack.url,
      slackApiUrl: stack.slack!.apiUrl,
      pagerDutyUrl: stack.pagerDuty!.url,
      slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET,
      pagerDutySigningKey: stack.secrets.PAGER_DUTY_SIGNING_KEY,
    });
    lines.push(
      '  Sandbox mode: no Slack or PagerDuty configuration, so local stand-ins play both.',
      `  Slack stand-in: ${stack.slack!.apiUrl}   PagerDuty stand-in: ${stack.pagerDuty!.url}`,
      `  Sandbox console: ${stack.url}/sandbox`,
      '  Try: npm run escalate -- CACME "API is returning 500 errors"   then   npm run sandbox -- ack 1',
    );
  } else {
    lines.push(`  Slack: ${stack.env.SLACK_API_URL ?? 'https://slack.com/api/'}   PagerDuty: ${stack.env.PAGER_DUTY_EVENTS_URL ?? 'https://events.pagerduty.com'}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('Stopping pd-router…\n');
    if (stack.sandbox) clearSandboxState();
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`pd-router failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
