import { runLocalRouter } from '../local/start';
import { parseCommandLine, processOutput } from './cli';

const USAGE = `usage: npm start

Runs the whole router on this machine (dynalite, fauxqs, the five functions) until Ctrl-C. With no
Slack or PagerDuty configuration it runs in sandbox mode: local stand-ins play both, and the
console is served at http://127.0.0.1:<PORT>/sandbox. It takes no arguments; settings come from
the environment:
  PORT                 where it listens (default 3000; 0 picks a free port)
  PD_ROUTER_DATA_DIR   a folder to keep its DynamoDB data in across restarts (default: in memory)
  LOG_LEVEL            debug, info, warn (the default here), error or silent; the functions' metric
                       lines (CloudWatch EMF JSON) are printed only with debug
and the variables docs/configuration.md lists.`;

/** `npm start`: refuse any argument, then hand over to the local stack. */
async function main(): Promise<void> {
  const parsed = parseCommandLine(process.argv.slice(2), {}, USAGE, processOutput);
  if ('exitCode' in parsed) process.exit(parsed.exitCode);
  const failed = await runLocalRouter(process.env, processOutput);
  if (failed !== undefined) process.exit(failed);
}

void main();
