import { randomBytes, randomUUID } from 'node:crypto';
import { listen, readBody, sendJson } from './stand-ins/http-util';
import { LOCAL_AWS_ENV } from './aws';

/**
 * Secrets Manager on this machine, as dynalite is DynamoDB: the four calls pd-router makes
 * (CreateSecret, PutSecretValue and GetSecretValue from `npm run secrets:put`; GetSecretValue from
 * the functions), over the AWS JSON 1.1 protocol the SDK speaks, kept in memory. Enough to follow
 * the deploy's steps locally: the keys stored by `npm run secrets:put` are the ones the functions
 * read, by the ids the deploy's template gives them.
 */
export interface LocalSecretsManager {
  endpoint: string;
  /** The current value of a secret (by name or ARN), as stored. */
  value(id: string): string | undefined;
  /** How many GetSecretValue calls were answered, per secret name. */
  reads(name: string): number;
  /** Create (or replace) a secret directly, as if `npm run secrets:put` had stored it. */
  store(name: string, value: string): void;
  stop(): Promise<void>;
}

interface StoredSecret {
  name: string;
  arn: string;
  versionId: string;
  value: string;
  created: number;
}

const JSON_11 = { 'content-type': 'application/x-amz-json-1.1' };

export async function startLocalSecretsManager(options: { region?: string; account?: string } = {}): Promise<LocalSecretsManager> {
  const region = options.region ?? LOCAL_AWS_ENV.AWS_REGION;
  const account = options.account ?? '000000000000';
  const secrets = new Map<string, StoredSecret>();
  const readCounts = new Map<string, number>();
  // An ARN ends in six random characters after the name, as AWS's do.
  const find = (id: unknown) => (typeof id === 'string' ? (secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id)) : undefined);

  const create = (name: string, value: string): StoredSecret => {
    const secret = { name, arn: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${randomBytes(3).toString('hex')}`, versionId: randomUUID(), value, created: Date.now() / 1000 };
    secrets.set(name, secret);
    return secret;
  };

  const server = await listen(async (request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse((await readBody(request)).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return sendJson(response, 400, { __type: 'SerializationException', message: 'the body is not JSON' }, JSON_11);
    }
    const fail = (type: string, message: string) => sendJson(response, 400, { __type: type, message }, JSON_11);
    const answer = (secret: StoredSecret, extra: Record<string, unknown> = {}) => sendJson(response, 200, { ARN: secret.arn, Name: secret.name, VersionId: secret.versionId, ...extra }, JSON_11);
    switch (operation) {
      case 'CreateSecret': {
        const name = body.Name;
        if (typeof name !== 'string' || !/^[\w/+=.@-]{1,512}$/.test(name)) return fail('InvalidParameterException', 'Name is required: letters, digits and /_+=.@-');
        if (secrets.has(name)) return fail('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
        if (typeof body.SecretString !== 'string') return fail('InvalidRequestException', 'SecretString is required here');
        return answer(create(name, body.SecretString));
      }
      case 'PutSecretValue': {
        const secret = find(body.SecretId);
        if (!secret) return fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        if (typeof body.SecretString !== 'string') return fail('InvalidRequestException', 'SecretString is required here');
        Object.assign(secret, { value: body.SecretString, versionId: randomUUID() });
        return answer(secret, { VersionStages: ['AWSCURRENT'] });
      }
      case 'GetSecretValue': {
        const secret = find(body.SecretId);
        if (!secret) return fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        readCounts.set(secret.name, (readCounts.get(secret.name) ?? 0) + 1);
        return answer(secret, { SecretString: secret.value, VersionStages: ['AWSCURRENT'], CreatedDate: secret.created });
      }
      default:
        return fail('UnknownOperationException', `the local Secrets Manager does not know ${operation || 'this operation'}`);
    }
  });
  return {
    endpoint: server.url,
    value: (id) => find(id)?.value,
    reads: (name) => readCounts.get(name) ?? 0,
    store: (name, value) => void create(name, value),
    stop: () => server.close(),
  };
}
