import middy from '@middy/core';
import { clearCache } from '@middy/util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MissingSecretError } from '../errors';
import { SECRET_NAMES, secretsMiddleware, type Secrets } from './secrets';

const VALUES: Secrets = {
  SLACK_SIGNING_SECRET: 'sss-0123456789',
  SLACK_BOT_TOKEN: 'xoxb-0123456789',
  PAGER_DUTY_SIGNING_KEY: 'pdsk-0123456789',
  PAGER_DUTY_EVENTS_API_KEY: 'pdek-0123456789',
  PAGER_DUTY_REST_API_KEY: 'pdrk-0123456789',
};

function run(env: Record<string, string | undefined>) {
  const seen: Secrets[] = [];
  const handler = middy()
    .use(secretsMiddleware(env, SECRET_NAMES))
    .handler(async (_event: unknown, context) => {
      seen.push((context as unknown as { secrets: Secrets }).secrets);
    });
  return { invoke: () => handler({}, {} as never), seen };
}

describe('secrets from the environment (local runs)', () => {
  it('puts the five secrets on the context', async () => {
    const { invoke, seen } = run({ ...VALUES });
    await invoke();
    expect(seen[0]).toEqual(VALUES);
  });

  it('a missing secret is a clear error that names it and shows no value', async () => {
    const { invoke } = run({ ...VALUES, PAGER_DUTY_REST_API_KEY: '' });
    const error = await invoke().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingSecretError);
    expect((error as Error).message).toBe('secret PAGER_DUTY_REST_API_KEY is missing from the environment');
  });
});

/** Secrets Manager's JSON protocol, played at the HTTP level: only GetSecretValue is needed. */
function secretsManagerStandIn(secretString: string) {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      requests.push(`${request.headers['x-amz-target']} ${body}`);
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify({ ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:pd-router', Name: 'pd-router', SecretString: secretString, VersionId: 'v1' }));
    });
  });
  return { server, requests };
}

describe('secrets from Secrets Manager', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  // middy refreshes a cached secret on a timer; a test process must not wait for it.
  afterAll(() => clearCache());

  async function withStandIn(secretString: string, body: (requests: string[]) => Promise<void>) {
    const { server, requests } = secretsManagerStandIn(secretString);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    try {
      await body(requests);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it('fetches the one secret once per cold start and caches it across invocations', async () => {
    await withStandIn(JSON.stringify(VALUES), async (requests) => {
      const { invoke, seen } = run({ SECRETS_MANAGER_SECRET_ID: 'pd-router/prod' });
      await invoke();
      await invoke();
      expect(seen).toEqual([VALUES, VALUES]);
      expect(requests).toHaveLength(1);
      expect(requests[0]).toContain('secretsmanager.GetSecretValue');
      expect(requests[0]).toContain('pd-router/prod');
    });
  });

  it('a key missing from the secret is named, with no value in the message', async () => {
    const { SLACK_BOT_TOKEN: _dropped, ...partial } = VALUES;
    await withStandIn(JSON.stringify(partial), async () => {
      const { invoke } = run({ SECRETS_MANAGER_SECRET_ID: 'pd-router/partial' });
      const error = (await invoke().catch((e: unknown) => e)) as Error;
      expect(error.message).toBe('secret SLACK_BOT_TOKEN is missing from the Secrets Manager secret');
      for (const value of Object.values(VALUES)) expect(error.message).not.toContain(value);
    });
  });
});
