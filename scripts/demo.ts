import { SANDBOX_ONCALL_EMAIL } from '../local/stand-ins/pagerduty';
import { playDemo } from '../local/demo/scenario';
import { helperEnvProblem, isUnreachable, readSandboxState, stackGoneMessage, type SandboxState } from '../local/sandbox-state';
import { SANDBOX_CHANNELS, SANDBOX_CHANNEL_NAMES } from '../local/sandbox-console/channels';
import { SandboxDriver } from '../local/sandbox-console/driver';
import { userNames, formatTranscript } from '../local/sandbox-console/transcript';
import { startStack, type LocalStack } from '../local/stack';
import { parseCommandLine, processOutput, usageError } from './cli';

const USAGE = `usage: npm run demo

Plays a scripted scenario: three customers escalate in the same second, on-call acknowledges,
reassigns and resolves, a customer checks the status and another pastes someone else's button.
Prints each channel's transcript and a verdict; exits 1 if anything crossed channels, was lost
or was doubled. It plays on the sandbox \`npm start\` runs (the one on PORT, default 3000) when
one answers, and otherwise starts its own in this process. It takes no arguments.`;

const print = (line = '') => process.stdout.write(`${line}\n`);

/** The sandbox `npm start` left a note about, if it still answers. */
async function runningSandbox(): Promise<SandboxState | undefined> {
  const state = readSandboxState();
  if (!state) return undefined;
  const health = await fetch(`${state.url}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ sandbox?: boolean }>).catch(() => undefined);
  return health?.sandbox ? state : undefined;
}

/**
 * `npm run demo`: the scripted scenario of three customers on a sandbox (the running one, or one
 * started here), their transcripts as their users saw them, and a verdict. Exits 1 if anything
 * crossed channels, was lost or was doubled.
 */
async function main() {
  const parsed = parseCommandLine(process.argv.slice(2), {}, USAGE, processOutput);
  if ('exitCode' in parsed) {
    process.exitCode = parsed.exitCode;
    return;
  }
  const envProblem = helperEnvProblem();
  if (envProblem) {
    process.exitCode = usageError(processOutput, USAGE, envProblem);
    return;
  }
  let stack: LocalStack | undefined;
  let target = await runningSandbox();
  if (target) {
    print(`Using the sandbox running at ${target.url}`);
  } else {
    // env: {} forces sandbox mode even where real Slack/PagerDuty variables are set.
    stack = await startStack({ env: {}, logLevel: 'silent', retryBaseSeconds: 0, visibilityTimeoutSeconds: 5, standIns: { channelNames: SANDBOX_CHANNEL_NAMES }, sandboxNotesFrom: SANDBOX_ONCALL_EMAIL });
    target = { url: stack.url, slackApiUrl: stack.slack!.apiUrl, pagerDutyUrl: stack.pagerDuty!.url, slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET, pagerDutySigningKey: stack.secrets.PAGER_DUTY_SIGNING_KEY };
    print(`Started a sandbox stack in this process at ${stack.url}`);
  }
  print();
  const url = target.url;
  try {
    const result = await playDemo(new SandboxDriver(target), { channels: SANDBOX_CHANNELS, log: print });
    const users = userNames(result.transcripts);
    print();
    for (const channel of result.transcripts) {
      for (const line of formatTranscript(channel, users)) print(line);
      print();
    }
    for (const finding of [...result.verdict.crossed, ...result.verdict.lost, ...result.verdict.doubled]) print(`  ! ${finding.detail}`);
    print(result.verdict.line);
    process.exitCode = result.verdict.ok ? 0 : 1;
  } catch (error) {
    // Only a sandbox of another process can go away mid-run; one started here stops with us.
    if (isUnreachable(error)) throw new Error(stackGoneMessage(url));
    throw error;
  } finally {
    await stack?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
