import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PdRouterError } from '../lib/runtime/errors';
import { SECRET_NAMES, type SecretName } from '../lib/runtime/secrets';
import { parseCommandLine, usageError } from './cli';

export type SecretValues = Partial<Record<SecretName, string>>;

/** Something about the values or the secret is wrong; the message names keys, never values. */
export class SecretInputError extends PdRouterError {}

const isSecretName = (key: string): key is SecretName => (SECRET_NAMES as readonly string[]).includes(key);

/**
 * Read the keys from `KEY=VALUE` lines (a .env file, `#` comments allowed) or from one JSON
 * object. An unknown key is refused: a typo would otherwise keep the old value silently.
 */
export function parseSecretInput(text: string): SecretValues {
  const trimmed = text.trim();
  if (!trimmed) return {};
  let entries: [string, unknown][];
  if (trimmed.startsWith('{')) {
    try {
      entries = Object.entries(JSON.parse(trimmed) as Record<string, unknown>);
    } catch {
      throw new SecretInputError('the input starts with { but is not a JSON object');
    }
  } else {
    entries = trimmed
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => {
        const eq = line.indexOf('=');
        if (eq < 1) throw new SecretInputError('every input line must be KEY=VALUE');
        const raw = line.slice(eq + 1).trim();
        return [line.slice(0, eq).replace(/^export\s+/, '').trim(), raw.replace(/^(['"])(.*)\1$/, '$2')];
      });
  }
  const values: SecretValues = {};
  for (const [key, value] of entries) {
    if (!isSecretName(key)) throw new SecretInputError(`unknown key ${key}; the secret holds ${SECRET_NAMES.join(', ')}`);
    if (typeof value !== 'string') throw new SecretInputError(`${key} must be a string`);
    values[key] = value;
  }
  return values;
}

/** The five keys from environment variables of the same names. */
export function secretValuesFromEnv(env: Record<string, string | undefined>): SecretValues {
  const values: SecretValues = {};
  for (const name of SECRET_NAMES) {
    const value = env[name]?.trim();
    if (value) values[name] = value;
  }
  return values;
}

/** Catch a value pasted under the wrong key; errors name the key only. */
export function checkSecretValues(values: SecretValues): void {
  for (const [key, value] of Object.entries(values)) {
    if (!value || value !== value.trim() || /\s/.test(value)) throw new SecretInputError(`${key} is empty or contains whitespace`);
  }
  if (values.SLACK_BOT_TOKEN !== undefined && !values.SLACK_BOT_TOKEN.startsWith('xoxb-')) {
    throw new SecretInputError('SLACK_BOT_TOKEN must be the bot token (xoxb-…), not a user or app-level token');
  }
}

export interface PutSecretResult {
  action: 'created' | 'updated' | 'unchanged';
  /** Keys given this time. */
  written: SecretName[];
  /** Keys taken over unchanged from the secret's current value. */
  kept: SecretName[];
  versionId?: string;
}

type SecretsClient = Pick<SecretsManagerClient, 'send'>;

async function currentValue(client: SecretsClient, secretId: string): Promise<Record<string, unknown> | undefined> {
  try {
    const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return result.SecretString ? (JSON.parse(result.SecretString) as Record<string, unknown>) : {};
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    if (error instanceof SyntaxError) throw new SecretInputError(`secret ${secretId} does not hold a JSON object; fix or delete it first`);
    throw error;
  }
}

/**
 * Create the secret, or put a new version of it, with all five keys: those given, and for an
 * existing secret the current values of those not given. Any other keys in it are preserved.
 */
export async function putSecret(input: { client: SecretsClient; secretId: string; values: SecretValues }): Promise<PutSecretResult> {
  checkSecretValues(input.values);
  const existing = await currentValue(input.client, input.secretId);
  const merged: Record<string, unknown> = { ...(existing ?? {}), ...input.values };
  const missing = SECRET_NAMES.filter((name) => typeof merged[name] !== 'string' || !merged[name]);
  if (missing.length) throw new SecretInputError(`missing ${missing.join(', ')}: the secret must hold all five keys`);
  const written = SECRET_NAMES.filter((name) => input.values[name] !== undefined);
  const kept = SECRET_NAMES.filter((name) => input.values[name] === undefined);
  if (existing && written.every((name) => existing[name] === input.values[name])) return { action: 'unchanged', written: [], kept: [...SECRET_NAMES] };
  const secretString = JSON.stringify(merged);
  if (!existing) {
    if (input.secretId.startsWith('arn:')) throw new SecretInputError(`no secret ${input.secretId}: give a name to create one`);
    const created = await input.client.send(
      new CreateSecretCommand({ Name: input.secretId, Description: 'pd-router: Slack and PagerDuty keys', SecretString: secretString }),
    );
    return { action: 'created', written, kept, ...(created.VersionId ? { versionId: created.VersionId } : {}) };
  }
  const updated = await input.client.send(new PutSecretValueCommand({ SecretId: input.secretId, SecretString: secretString }));
  return { action: 'updated', written, kept, ...(updated.VersionId ? { versionId: updated.VersionId } : {}) };
}

const USAGE = `usage: npm run secrets:put -- --secret-id <name or ARN> [--region <region>] [--from-env]

Reads the keys (${SECRET_NAMES.join(', ')})
from stdin when it is piped (KEY=VALUE lines or a JSON object), with --from-env from environment
variables of those names, and otherwise asks for each one without echoing it (Enter keeps the
current value). Creates the secret or puts a new version; prints key names only, never values.`;

export interface PutSecretIo {
  env: Record<string, string | undefined>;
  /** The piped input, or undefined when stdin is a terminal. */
  readPipedStdin: () => Promise<string | undefined>;
  /** Ask for one value without echoing it. */
  promptHidden: (question: string) => Promise<string>;
  client: (region: string | undefined) => SecretsClient;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

export async function runPutSecret(argv: readonly string[], io: PutSecretIo): Promise<number> {
  const parsed = parseCommandLine<{ 'secret-id'?: string; region?: string; 'from-env'?: boolean }>(
    argv,
    { 'secret-id': { type: 'string' }, region: { type: 'string' }, 'from-env': { type: 'boolean' } },
    USAGE,
    io,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const secretId = values['secret-id']?.trim();
  if (!secretId) return usageError(io, USAGE, '--secret-id is required (the secret\'s name, e.g. pd-router/prod, or its ARN)');
  try {
    // Local runs keep sandbox values in these variables: they are read only when asked for.
    const given: SecretValues = values['from-env'] ? secretValuesFromEnv(io.env) : {};
    const piped = await io.readPipedStdin();
    if (piped !== undefined) Object.assign(given, parseSecretInput(piped));
    else {
      for (const name of SECRET_NAMES.filter((n) => given[n] === undefined)) {
        const answer = (await io.promptHidden(`${name} (hidden; Enter keeps the current value): `)).trim();
        if (answer) given[name] = answer;
      }
    }
    const result = await putSecret({ client: io.client(values.region), secretId, values: given });
    if (result.action === 'unchanged') io.stdout(`Secret ${secretId} already holds these values; nothing written.`);
    else {
      io.stdout(`Secret ${secretId} ${result.action}${result.versionId ? ` (version ${result.versionId})` : ''}.`);
      io.stdout(`  written: ${result.written.join(', ') || '(none)'}`);
      if (result.kept.length) io.stdout(`  kept:    ${result.kept.join(', ')}`);
      io.stdout('Running functions pick the new values up within 15 minutes (their secret cache), or at once after the next deploy.');
    }
    return 0;
  } catch (error) {
    io.stderr(error instanceof PdRouterError ? error.message : `could not write the secret: ${(error as Error).name}: ${(error as Error).message}`);
    return 1;
  }
}

async function readPipedStdin(): Promise<string | undefined> {
  if (process.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A prompt that reads one line in raw mode and writes nothing of it back. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new SecretInputError('cancelled'));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}

if (require.main === module) {
  void runPutSecret(process.argv.slice(2), {
    env: process.env,
    readPipedStdin,
    promptHidden,
    client: (region) => new SecretsManagerClient(region ? { region } : {}),
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
