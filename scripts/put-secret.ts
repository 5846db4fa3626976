import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PdRouterError } from '../lib/errors';
import { API_TOKEN_NAMES, SECRET_NAMES, SIGNING_SECRET_NAMES, type SecretName } from '../lib/runtime/secrets';
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
  /** Keys of the other half taken out of a split secret (left from a single-secret layout). */
  removed?: SecretName[];
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
 * Create the secret, or put a new version of it, with all its keys (the five by default, one
 * half of them in a split layout): those given, and for an existing secret the current values of
 * those not given. Other keys in it are preserved, except the other half's keys in a split
 * secret: those are taken out, so that a function reading this secret cannot read them.
 */
export async function putSecret(input: { client: SecretsClient; secretId: string; values: SecretValues; keys?: readonly SecretName[] }): Promise<PutSecretResult> {
  return applySecretPlan(input.client, await planSecret(input));
}

/** What putSecret will write, worked out and checked before anything is written. */
export interface SecretPlan {
  secretId: string;
  result: PutSecretResult;
  /** The new value, when there is one to write; never printed. */
  secretString?: string;
}

/** Read the secret and work out its new value; throws SecretInputError (naming keys only) when it would be incomplete. */
export async function planSecret(input: { client: SecretsClient; secretId: string; values: SecretValues; keys?: readonly SecretName[] }): Promise<SecretPlan> {
  const keys = input.keys ?? SECRET_NAMES;
  const values: SecretValues = {};
  for (const key of keys) if (input.values[key] !== undefined) values[key] = input.values[key];
  checkSecretValues(values);
  const existing = await currentValue(input.client, input.secretId);
  const merged: Record<string, unknown> = { ...(existing ?? {}), ...values };
  const removed = SECRET_NAMES.filter((name) => !keys.includes(name) && name in merged);
  for (const name of removed) delete merged[name];
  const missing = keys.filter((name) => typeof merged[name] !== 'string' || !merged[name]);
  if (missing.length) throw new SecretInputError(`missing ${missing.join(', ')}: secret ${input.secretId} must hold ${keys.length === SECRET_NAMES.length ? 'all five keys' : keys.join(', ')}`);
  if (!existing && input.secretId.startsWith('arn:')) throw new SecretInputError(`no secret ${input.secretId}: give a name to create one`);
  const written = keys.filter((name) => values[name] !== undefined);
  const kept = keys.filter((name) => values[name] === undefined);
  if (existing && !removed.length && written.every((name) => existing[name] === values[name])) {
    return { secretId: input.secretId, result: { action: 'unchanged', written: [], kept: [...keys] } };
  }
  return {
    secretId: input.secretId,
    result: { action: existing ? 'updated' : 'created', written, kept, ...(removed.length ? { removed } : {}) },
    secretString: JSON.stringify(merged),
  };
}

/** Write what planSecret worked out. */
export async function applySecretPlan(client: SecretsClient, plan: SecretPlan): Promise<PutSecretResult> {
  if (plan.secretString === undefined) return plan.result;
  if (plan.result.action === 'created') {
    const created = await client.send(new CreateSecretCommand({ Name: plan.secretId, Description: 'pd-router: Slack and PagerDuty keys', SecretString: plan.secretString }));
    return { ...plan.result, ...(created.VersionId ? { versionId: created.VersionId } : {}) };
  }
  const updated = await client.send(new PutSecretValueCommand({ SecretId: plan.secretId, SecretString: plan.secretString }));
  return { ...plan.result, ...(updated.VersionId ? { versionId: updated.VersionId } : {}) };
}

const USAGE = `usage: npm run secrets:put -- --secret-id <name or ARN> [--region <region>] [--from-env]
       npm run secrets:put -- --signing-secret-id <name or ARN> --api-token-secret-id <name or ARN> [--region <region>] [--from-env]

Reads the keys (${SECRET_NAMES.join(', ')})
from stdin when it is piped (KEY=VALUE lines or a JSON object), with --from-env from environment
variables of those names, and otherwise asks for each one without echoing it (Enter keeps the
current value). Creates the secret or puts a new version; prints key names only, never values.

With the split layout (the stage deployed with params signingSecretId and apiTokenSecretId), the
signing secrets (${SIGNING_SECRET_NAMES.join(', ')}) go to the first secret and the API tokens
(${API_TOKEN_NAMES.join(', ')}) to the second; keys of the other half are taken out of each.`;

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
  const parsed = parseCommandLine<{ 'secret-id'?: string; 'signing-secret-id'?: string; 'api-token-secret-id'?: string; region?: string; 'from-env'?: boolean }>(
    argv,
    {
      'secret-id': { type: 'string' },
      'signing-secret-id': { type: 'string' },
      'api-token-secret-id': { type: 'string' },
      region: { type: 'string' },
      'from-env': { type: 'boolean' },
    },
    USAGE,
    io,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const secretId = values['secret-id']?.trim();
  const signingId = values['signing-secret-id']?.trim();
  const apiTokenId = values['api-token-secret-id']?.trim();
  const usage = (problem: string) => usageError(io, USAGE, problem);
  let targets: { secretId: string; keys: readonly SecretName[] }[];
  if (secretId) {
    if (signingId || apiTokenId) return usage('give either --secret-id or the two split ids, not both');
    targets = [{ secretId, keys: SECRET_NAMES }];
  } else if (signingId && apiTokenId) {
    if (signingId === apiTokenId) return usage('--signing-secret-id and --api-token-secret-id must name two different secrets');
    targets = [
      { secretId: signingId, keys: SIGNING_SECRET_NAMES },
      { secretId: apiTokenId, keys: API_TOKEN_NAMES },
    ];
  } else if (signingId || apiTokenId) {
    return usage('the split layout needs both --signing-secret-id and --api-token-secret-id');
  } else {
    return usage('say which secret: --secret-id, or --signing-secret-id with --api-token-secret-id');
  }
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
    const client = io.client(values.region);
    // Every secret is read and checked before any is written: a split write never stops half-way on bad input.
    checkSecretValues(given);
    const plans: SecretPlan[] = [];
    for (const target of targets) plans.push(await planSecret({ client, secretId: target.secretId, values: given, keys: target.keys }));
    let changed = false;
    for (const plan of plans) {
      const result = await applySecretPlan(client, plan);
      if (result.action === 'unchanged') {
        io.stdout(`Secret ${plan.secretId} already holds these values; nothing written.`);
        continue;
      }
      changed = true;
      io.stdout(`Secret ${plan.secretId} ${result.action}${result.versionId ? ` (version ${result.versionId})` : ''}.`);
      io.stdout(`  written: ${result.written.join(', ') || '(none)'}`);
      if (result.kept.length) io.stdout(`  kept:    ${result.kept.join(', ')}`);
      if (result.removed?.length) io.stdout(`  removed: ${result.removed.join(', ')} (the other half's keys, which this secret's readers must not see)`);
    }
    if (changed) io.stdout('Running functions pick the new values up within 15 minutes (their secret cache), or at once after the next deploy.');
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
