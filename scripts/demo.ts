import { SANDBOX_ONCALL_EMAIL } from '../local/stand-ins/pagerduty';
import { playDemo } from '../local/demo/scenario';
import { helperEnvProblem, isUnreachable, readSandboxState, runningSandboxes, stackGoneMessage, type SandboxState } from '../local/sandbox-state';
import { SANDBOX_CHANNELS, SANDBOX_CHANNEL_NAMES } from '../local/sandbox-console/channels';
import { SandboxDriver } from '../local/sandbox-console/driver';
import { userNames, formatTranscript } from '../local/sandbox-console/transcript';
import { startStack, type LocalStack } from '../local/stack';
import { parseCommandLine, processOutput, usageError } from './cli';

const USAGE = `usage: npm run demo

Plays a scripted scenario: three customers escalate in the same second, on-call acknowledges,
reassigns and resolves, a customer checks the status and another pastes someone else's button.
Prints each channel's transcript and a verdict; exits 1 if anything crossed channels, was lost
or was doubled. It plays on the sandbox \`npm start\` runs when one answers: the one on PORT (or
PD_ROUTER_URL), else the only one running. Otherwise, and when several run and nothing says which,
it starts its own in this process and says so. It takes no arguments.`;

const print = (line = '') => process.stdout.write(`${line}\n`);

/** Whether a sandbox's hand-off names one that still answers as a sandbox. */
async function answers(state: SandboxState): Promise<boolean> {
  const health = await fetch(`${state.url}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ sandbox?: boolean }>).catch(() => undefined);
  return health?.sandbox === true;
}

const portOf = (state: SandboxState) => new URL(state.url).port;

/**
 * The sandbox to play on: the one PORT or PD_ROUTER_URL names, else the only one running. When
 * several run and nothing says which, none is picked (the demo plays on its own, and `several`
 * says which run, to name them).
 */
async function runningSandbox(env: Record<string, string | undefined>): Promise<{ target?: SandboxState; several?: SandboxState[] }> {
  if (env.PORT?.trim() || env.PD_ROUTER_URL?.trim()) {
    const state = readSandboxState(env);
    return state && (await answers(state)) ? { target: state } : {};
  }
  const running: SandboxState[] = [];
  for (const state of runningSandboxes()) if (await answers(state)) running.push(state);
  if (running.length === 1) return { target: running[0]! };
  return running.length > 1 ? { several: running } : {};
}

/** One line: which sandboxes run, that the demo played on its own, and how to play on one of them. */
function severalSandboxesLine(several: readonly SandboxState[], ownUrl: string): string {
  const ports = several.map(portOf);
  return `${ports.length} sandboxes are running, on ports ${ports.slice(0, -1).join(', ')} and ${ports.at(-1)}, and PORT does not say which: playing on one started in this process at ${ownUrl} (\`PORT=${ports[0]} npm run demo\` plays on the one on ${ports[0]})`;
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
  const found = await runningSandbox(process.env);
  let target = found.target;
  if (target) {
    print(`Using the sandbox running at ${target.url}`);
  } else {
    // env: {} forces sandbox mode even where real Slack/PagerDuty variables are set.
    stack = await startStack({ env: {}, logLevel: 'silent', retryBaseSeconds: 0, visibilityTimeoutSeconds: 5, standIns: { channelNames: SANDBOX_CHANNEL_NAMES }, sandboxNotesFrom: SANDBOX_ONCALL_EMAIL });
    target = { url: stack.url, slackApiUrl: stack.slack!.apiUrl, pagerDutyUrl: stack.pagerDuty!.url, slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET, pagerDutySigningKey: stack.secrets.PAGER_DUTY_SIGNING_KEY };
    print(found.several ? severalSandboxesLine(found.several, stack.url) : `Started a sandbox stack in this process at ${stack.url}`);
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
