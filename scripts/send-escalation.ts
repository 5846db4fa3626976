import { createInterface } from 'node:readline/promises';
import { helperEnvProblem, isUnreachable, readSandboxState, stackGoneMessage, whichSandboxLine, type SandboxState } from '../local/sandbox-state';
import { mentionEnvelope, signedSlackJson } from '../local/events/slack';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { parseCommandLine, processOutput, usageError, type CliOutput } from './cli';

const USAGE = `usage: npm run escalate -- <channel id> <what is wrong> [--yes]

Sends a signed app_mention "@bot escalate <what is wrong>" to a running pd-router, as Slack would.
  <channel id>   the Slack channel's id: C… (or G… for an old private channel), never its name;
                 the sandbox's channels are CACME, CGLOBEX and CINITECH
  <what is wrong> the escalation's description (the rest of the line)
  --yes, -y      page a router that is not the local sandbox without asking first

It talks to the sandbox \`npm start\` runs (the one on PORT, default 3000). PD_ROUTER_URL (with
SLACK_SIGNING_SECRET) points it at another router instead: that pages real on-call, so it asks
for confirmation on a terminal and otherwise requires --yes.`;

/** Slack channel ids: C for channels, G for private channels created before 2021. */
const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;

export interface EscalateIo extends CliOutput {
  env: Record<string, string | undefined>;
  /** Ask a yes/no question on the terminal; undefined when there is no terminal to ask on. */
  confirm: (question: string) => Promise<boolean | undefined>;
}

/** Why `channel` cannot be a channel id, or undefined when it can. */
function channelProblem(channel: string): string | undefined {
  if (CHANNEL_ID.test(channel)) return undefined;
  if (channel.startsWith('#') || /[a-z]/.test(channel)) {
    return `${JSON.stringify(channel)} is a channel name; give the channel's id (like C0123ABC: in Slack, the channel's details → About → Channel ID)`;
  }
  return `${JSON.stringify(channel)} is not a Slack channel id (C… or G…, capital letters and digits, like C0123ABC)`;
}

/**
 * `npm run escalate -- <channel id> "<description>"`: check the command line completely, decide
 * the target (the local sandbox, or PD_ROUTER_URL after confirmation), then send one signed
 * `app_mention`. Nothing is sent unless every check passed. Returns the exit code.
 */
export async function runEscalate(argv: readonly string[], io: EscalateIo): Promise<number> {
  const parsed = parseCommandLine<{ yes?: boolean }>(argv, { yes: { type: 'boolean', short: 'y' } }, USAGE, io, { allowPositionals: true });
  if ('exitCode' in parsed) return parsed.exitCode;
  const [channel = '', ...words] = parsed.positionals;
  if (!channel.trim()) return usageError(io, USAGE, 'a channel id is required');
  const problem = channelProblem(channel);
  if (problem) return usageError(io, USAGE, problem);
  const description = words.join(' ').trim();
  if (!description) return usageError(io, USAGE, 'a description of what is wrong is required (e.g. "checkout API returns 500 errors")');

  const envProblem = helperEnvProblem(io.env);
  if (envProblem) return usageError(io, USAGE, envProblem);
  const routerUrl = io.env.PD_ROUTER_URL?.trim();
  const sandbox: SandboxState | undefined = readSandboxState(io.env);
  let url: string;
  let secret: string;
  if (routerUrl && !sandbox) {
    url = routerUrl.replace(/\/+$/, '');
    const given = io.env.SLACK_SIGNING_SECRET?.trim();
    if (!given) {
      io.stderr(`SLACK_SIGNING_SECRET is not set: it signs the request for the pd-router at ${url} (the Slack app's Signing Secret)`);
      return 2;
    }
    secret = given;
    if (!parsed.values.yes) {
      const answer = await io.confirm(`This pages the real on-call through the pd-router at ${url} (channel ${channel}: "${description}"). Send it? [y/N] `);
      if (answer === undefined) {
        io.stderr(`not sent: ${url} is not the local sandbox, so this would page real on-call; add --yes to send it without a terminal to confirm on`);
        return 2;
      }
      if (!answer) {
        io.stderr('not sent');
        return 1;
      }
    }
    io.stderr(`Paging through the pd-router at ${url}`);
  } else if (sandbox) {
    url = sandbox.url;
    secret = sandbox.slackSigningSecret;
  } else {
    const port = io.env.PORT?.trim();
    io.stderr(
      whichSandboxLine(io.env, `npm run escalate -- ${channel} "…"`) ??
        `no running sandbox found${port ? ` on PORT=${port}` : ''}: start one with \`npm start\`, or set PD_ROUTER_URL and SLACK_SIGNING_SECRET to page another router`,
    );
    return 1;
  }

  const typed = `escalate ${description.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}`;
  const text = `<@${STAND_IN_BOT_USER_ID}> ${typed}`;
  const now = Math.floor(Date.now() / 1000);
  try {
    let ts = `${now}.000100`;
    if (sandbox) {
      // Give the mention a place in the stand-in's channel, so the thread has a parent.
      const response = await fetch(`${sandbox.slackApiUrl.replace(/\/api\/$/, '')}/sandbox/customer-message`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel, user: 'UCUSTOMER', text }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) ts = ((await response.json()) as { ts: string }).ts;
    }
    const request = signedSlackJson(secret, mentionEnvelope({ channel, text: typed, ts, user: 'UCUSTOMER', appId: 'ASANDBOX' }), now);
    const response = await fetch(`${url}/slack/events`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(15_000),
    });
    io.stdout(`POST ${url}/slack/events → ${response.status} ${await response.text()}`);
    return response.ok ? 0 : 1;
  } catch (error) {
    if (isUnreachable(error)) {
      io.stderr(sandbox ? stackGoneMessage(url) : `the pd-router at ${url} is not answering: check PD_ROUTER_URL`);
      return 1;
    }
    io.stderr(`escalation not sent: ${(error as Error).message}`);
    return 1;
  }
}

/** A y/N question on the terminal; undefined when stdin is not one. */
async function confirmOnTerminal(question: string): Promise<boolean | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await terminal.question(question)).trim());
  } finally {
    terminal.close();
  }
}

if (require.main === module) {
  void runEscalate(process.argv.slice(2), { ...processOutput, env: process.env, confirm: confirmOnTerminal }).then((code) => {
    process.exitCode = code;
  });
}
