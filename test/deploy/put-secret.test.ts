import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { API_TOKEN_NAMES, SECRET_NAMES, SIGNING_SECRET_NAMES } from '../../lib/runtime/secrets';
import { parseSecretInput, putSecret, runPutSecret, SecretInputError, type PutSecretIo } from '../../scripts/put-secret';

const VALUES = {
  SLACK_SIGNING_SECRET: 'value-signing-0123456789',
  SLACK_BOT_TOKEN: 'xoxb-value-bot-token-0123',
  PAGER_DUTY_SIGNING_KEY: 'value-pd-signing-key-0123',
  PAGER_DUTY_EVENTS_API_KEY: 'value-pd-routing-key-0123',
  PAGER_DUTY_REST_API_KEY: 'value-pd-rest-key-0123',
};

/** Secrets Manager is AWS's, so it is faked here at its edge: the three calls put-secret makes. */
class FakeSecretsManager {
  readonly secrets = new Map<string, string>();
  readonly calls: string[] = [];
  async send(command: unknown): Promise<unknown> {
    if (command instanceof GetSecretValueCommand) {
      this.calls.push('GetSecretValue');
      const value = this.secrets.get(command.input.SecretId!);
      if (value === undefined) throw new ResourceNotFoundException({ message: 'Secrets Manager can’t find the specified secret.', $metadata: {} });
      return { SecretString: value };
    }
    if (command instanceof CreateSecretCommand) {
      this.calls.push('CreateSecret');
      this.secrets.set(command.input.Name!, command.input.SecretString!);
      return { VersionId: 'v1' };
    }
    if (command instanceof PutSecretValueCommand) {
      this.calls.push('PutSecretValue');
      this.secrets.set(command.input.SecretId!, command.input.SecretString!);
      return { VersionId: 'v2' };
    }
    throw new Error('unexpected command');
  }
  asClient(): Pick<SecretsManagerClient, 'send'> {
    return this as unknown as Pick<SecretsManagerClient, 'send'>;
  }
}

describe('secrets:put', () => {
  it('creates the secret with the five keys as one JSON object', async () => {
    const aws = new FakeSecretsManager();
    const result = await putSecret({ client: aws.asClient(), secretId: 'pd-router/prod', values: VALUES });
    expect(result).toEqual({ action: 'created', written: [...SECRET_NAMES], kept: [], versionId: 'v1' });
    expect(JSON.parse(aws.secrets.get('pd-router/prod')!)).toEqual(VALUES);
  });

  it('updates one key (a new PagerDuty signing secret) and keeps the other four and any extra key', async () => {
    const aws = new FakeSecretsManager();
    aws.secrets.set('pd-router/prod', JSON.stringify({ ...VALUES, NOTE: 'kept' }));
    const result = await putSecret({ client: aws.asClient(), secretId: 'pd-router/prod', values: { PAGER_DUTY_SIGNING_KEY: 'value-new-signing-key' } });
    expect(result).toMatchObject({ action: 'updated', written: ['PAGER_DUTY_SIGNING_KEY'], versionId: 'v2' });
    expect(JSON.parse(aws.secrets.get('pd-router/prod')!)).toEqual({ ...VALUES, PAGER_DUTY_SIGNING_KEY: 'value-new-signing-key', NOTE: 'kept' });
  });

  it('writes no new version when nothing changed', async () => {
    const aws = new FakeSecretsManager();
    aws.secrets.set('pd-router/prod', JSON.stringify(VALUES));
    await expect(putSecret({ client: aws.asClient(), secretId: 'pd-router/prod', values: { SLACK_BOT_TOKEN: VALUES.SLACK_BOT_TOKEN } })).resolves.toMatchObject({ action: 'unchanged' });
    expect(aws.calls).toEqual(['GetSecretValue']);
  });

  it('refuses a new secret without all five keys, and a user token where the bot token belongs', async () => {
    const aws = new FakeSecretsManager();
    await expect(putSecret({ client: aws.asClient(), secretId: 'pd-router/prod', values: { SLACK_BOT_TOKEN: VALUES.SLACK_BOT_TOKEN } })).rejects.toThrow(
      'missing SLACK_SIGNING_SECRET, PAGER_DUTY_SIGNING_KEY, PAGER_DUTY_EVENTS_API_KEY, PAGER_DUTY_REST_API_KEY',
    );
    await expect(putSecret({ client: aws.asClient(), secretId: 'pd-router/prod', values: { ...VALUES, SLACK_BOT_TOKEN: 'xoxp-user-token' } })).rejects.toThrow(SecretInputError);
    expect(aws.calls).not.toContain('CreateSecret');
  });

  it('reads KEY=VALUE lines (comments, export, quotes) or a JSON object, and refuses unknown keys', () => {
    expect(parseSecretInput(`# from the vault\nexport SLACK_BOT_TOKEN="xoxb-1"\nPAGER_DUTY_SIGNING_KEY=a=b\n`)).toEqual({ SLACK_BOT_TOKEN: 'xoxb-1', PAGER_DUTY_SIGNING_KEY: 'a=b' });
    expect(parseSecretInput(JSON.stringify(VALUES))).toEqual(VALUES);
    expect(() => parseSecretInput('SLACK_BOT_TOKNE=xoxb-1')).toThrow('unknown key SLACK_BOT_TOKNE');
  });

  describe('the command', () => {
    function io(aws: FakeSecretsManager, overrides: Partial<PutSecretIo> = {}) {
      const lines: string[] = [];
      const prompts: string[] = [];
      const streams: PutSecretIo = {
        env: {},
        readPipedStdin: async () => undefined,
        promptHidden: async (question) => (prompts.push(question), ''),
        client: () => aws.asClient(),
        stdout: (line) => lines.push(line),
        stderr: (line) => lines.push(line),
        ...overrides,
      };
      return { streams, lines, prompts };
    }

    it('takes piped input and prints key names, never a value', async () => {
      const aws = new FakeSecretsManager();
      const run = io(aws, { readPipedStdin: async () => Object.entries(VALUES).map(([k, v]) => `${k}=${v}`).join('\n') });
      expect(await runPutSecret(['--secret-id', 'pd-router/prod'], run.streams)).toBe(0);
      const output = run.lines.join('\n');
      expect(output).toContain('Secret pd-router/prod created (version v1)');
      for (const value of Object.values(VALUES)) expect(output).not.toContain(value);
    });

    it('reads the environment only with --from-env, where local runs keep sandbox values', async () => {
      const aws = new FakeSecretsManager();
      const run = io(aws, { env: VALUES });
      expect(await runPutSecret(['--secret-id', 'pd-router/prod'], run.streams)).toBe(1);
      expect(run.prompts).toHaveLength(5); // asked for each, got nothing, so nothing was created
      expect(aws.secrets.size).toBe(0);

      expect(await runPutSecret(['--secret-id', 'pd-router/prod', '--from-env'], io(aws, { env: VALUES }).streams)).toBe(0);
      expect(JSON.parse(aws.secrets.get('pd-router/prod')!)).toEqual(VALUES);
    });

    it('asks for missing keys at the terminal, Enter keeping the current value', async () => {
      const aws = new FakeSecretsManager();
      aws.secrets.set('pd-router/prod', JSON.stringify(VALUES));
      const answers: Record<string, string> = { SLACK_SIGNING_SECRET: 'value-rotated-signing' };
      const run = io(aws, { promptHidden: async (question) => answers[question.split(' ')[0]!] ?? '' });
      expect(await runPutSecret(['--secret-id', 'pd-router/prod'], run.streams)).toBe(0);
      expect(JSON.parse(aws.secrets.get('pd-router/prod')!)).toEqual({ ...VALUES, SLACK_SIGNING_SECRET: 'value-rotated-signing' });
      expect(run.lines.join('\n')).not.toContain('value-rotated-signing');
    });

    describe('with split secrets', () => {
      const SPLIT = ['--signing-secret-id', 'pd-router/prod/signing', '--api-token-secret-id', 'pd-router/prod/api-tokens'];
      const half = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, VALUES[n as keyof typeof VALUES]]));

      it('writes the signing secrets to one secret and the API tokens to the other, nothing of one half in the other', async () => {
        const aws = new FakeSecretsManager();
        const run = io(aws, { readPipedStdin: async () => JSON.stringify(VALUES) });
        expect(await runPutSecret(SPLIT, run.streams)).toBe(0);
        expect(JSON.parse(aws.secrets.get('pd-router/prod/signing')!)).toEqual(half(SIGNING_SECRET_NAMES));
        expect(JSON.parse(aws.secrets.get('pd-router/prod/api-tokens')!)).toEqual(half(API_TOKEN_NAMES));
        expect([...SIGNING_SECRET_NAMES, ...API_TOKEN_NAMES].sort()).toEqual([...SECRET_NAMES].sort());
        const output = run.lines.join('\n');
        expect(output).toContain('Secret pd-router/prod/signing created');
        expect(output).toContain('Secret pd-router/prod/api-tokens created');
        for (const value of Object.values(VALUES)) expect(output).not.toContain(value);
      });

      it('takes the other half out of a secret that still holds all five (moving from the single layout)', async () => {
        const aws = new FakeSecretsManager();
        aws.secrets.set('pd-router/prod/signing', JSON.stringify({ ...VALUES, NOTE: 'kept' }));
        aws.secrets.set('pd-router/prod/api-tokens', JSON.stringify(half(API_TOKEN_NAMES)));
        const run = io(aws);
        expect(await runPutSecret(SPLIT, run.streams)).toBe(0); // Enter at every prompt: values kept
        expect(JSON.parse(aws.secrets.get('pd-router/prod/signing')!)).toEqual({ ...half(SIGNING_SECRET_NAMES), NOTE: 'kept' });
        expect(run.lines.join('\n')).toContain(`removed: ${API_TOKEN_NAMES.join(', ')}`);
        expect(run.lines.join('\n')).toContain('Secret pd-router/prod/api-tokens already holds these values; nothing written.');
      });

      it('writes neither secret when one half would be incomplete', async () => {
        const aws = new FakeSecretsManager();
        const run = io(aws, { readPipedStdin: async () => JSON.stringify(half(SIGNING_SECRET_NAMES)) });
        expect(await runPutSecret(SPLIT, run.streams)).toBe(1);
        expect(run.lines.join('\n')).toContain(`missing ${API_TOKEN_NAMES.join(', ')}: secret pd-router/prod/api-tokens must hold`);
        expect(aws.secrets.size).toBe(0);
        expect(aws.calls).not.toContain('CreateSecret');
      });

      it.each([
        [['--signing-secret-id', 'a'], 'the split layout needs both'],
        [['--secret-id', 's', '--signing-secret-id', 'a', '--api-token-secret-id', 'b'], 'either --secret-id or the two split ids'],
        [['--signing-secret-id', 'a', '--api-token-secret-id', 'a'], 'two different secrets'],
        [[], 'say which secret'],
      ])('%j: a usage error, nothing read or written', async (argv, message) => {
        const aws = new FakeSecretsManager();
        const run = io(aws);
        expect(await runPutSecret(argv, run.streams)).toBe(2);
        expect(run.lines[0]).toContain(message);
        expect(aws.calls).toEqual([]);
      });
    });
  });
});
