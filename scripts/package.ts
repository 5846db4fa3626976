import { spawn } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { parseCommandLine, processOutput, usageError } from './cli';
import { packageSummary } from './package-summary';

const USAGE = `usage: npm run package -- [--stage <stage>] [--region <region>] [--param <name=value>]… [--package <dir>]

Builds the five function bundles and the CloudFormation template into .serverless/ (or --package)
with osls, offline and without AWS credentials: what \`npx osls deploy\` would upload. It ends with
what it built (functions, queues, table, alarms and where they notify) and the deploy command.
  --stage    the stage to build for (default dev)
  --region   the AWS region (default: serverless.yml's, us-east-1)
  --param    a serverless.yml parameter, name=value (repeatable), as the deploy takes it
  --package  the folder to write to (default .serverless)`;

const ROOT = path.join(__dirname, '..');

/** `npm run package`: check the command line, then run `osls package` with it. */
async function main(): Promise<number> {
  const parsed = parseCommandLine<{ stage?: string; region?: string; param?: string[]; package?: string }>(
    process.argv.slice(2),
    { stage: { type: 'string' }, region: { type: 'string' }, param: { type: 'string', multiple: true }, package: { type: 'string' } },
    USAGE,
    processOutput,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { stage = 'dev', region, param = [], package: dir } = parsed.values;
  if (!/^[a-zA-Z0-9-]+$/.test(stage)) return usageError(processOutput, USAGE, `--stage must be letters, digits and dashes, not ${JSON.stringify(stage)}`);
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) return usageError(processOutput, USAGE, `--region must be an AWS region like eu-west-1, not ${JSON.stringify(region)}`);
  const badParam = param.find((p) => !/^[A-Za-z0-9]+=/.test(p));
  if (badParam !== undefined) return usageError(processOutput, USAGE, `--param must be name=value, not ${JSON.stringify(badParam)}`);
  if (dir !== undefined && !dir.trim()) return usageError(processOutput, USAGE, '--package needs a folder');

  const args = [
    require.resolve('osls/bin/serverless.js'),
    'package',
    '--stage',
    stage,
    ...(region ? ['--region', region] : []),
    ...(dir ? ['--package', path.resolve(dir)] : []),
    ...param.map((p) => `--param=${p}`),
  ];
  processOutput.stderr(`osls package --stage ${stage}${region ? ` --region ${region}` : ''}${param.map((p) => ` --param=${p}`).join('')}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['inherit', 'pipe', 'pipe'] });
    // osls's output goes through as it comes until it reports an error (its `Error:` and the
    // `Environment:` footer it prints only then); from there it is held, so that a param refused by
    // deploy/cloudformation.js is told in its own one line.
    let failing = false;
    const held: string[] = [];
    const pass = (stream: NodeJS.WriteStream) => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (!failing && /^(Error:|Environment: )/m.test(text)) failing = true;
      if (failing) held.push(text);
      else stream.write(text);
    };
    child.stdout.on('data', pass(process.stdout));
    child.stderr.on('data', pass(process.stderr));
    child.on('error', (error) => {
      processOutput.stderr(`could not run osls: ${error.message}`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      const output = held.join('');
      const refused = /Received rejection: (.+)$/m.exec(output);
      if (refused) processOutput.stderr(refused[1]!);
      else if (output) process.stderr.write(output);
      if (code === 0) {
        const folder = dir ? path.resolve(dir) : path.join(ROOT, '.serverless');
        try {
          const template = JSON.parse(readFileSync(path.join(folder, 'cloudformation-template-update-stack.json'), 'utf8')) as Parameters<typeof packageSummary>[0];
          for (const line of packageSummary(template, { stage, ...(region ? { region } : {}), params: param, dir: path.relative(process.cwd(), folder).startsWith('..') ? folder : path.relative(process.cwd(), folder) || '.' })) processOutput.stdout(line);
        } catch (error) {
          processOutput.stderr(`packaged, but the template could not be read back: ${(error as Error).message}`);
        }
      }
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

void main().then((code) => process.exit(code));
