import { listen, readBody, sendJson } from '../../local/stand-ins/http-util';

/**
 * Just enough of Secrets Manager (GetSecretValue over the JSON protocol) for a cold start that
 * fetches its secret the way the deployed functions do (SECRETS_MANAGER_SECRET_ID set).
 */
export async function startSecretsManagerStandIn(secretId: string, value: Record<string, string>): Promise<{ url: string; calls(): number; close(): Promise<void> }> {
  let calls = 0;
  const server = await listen(async (request, response) => {
    const body = JSON.parse((await readBody(request)).toString('utf8') || '{}') as { SecretId?: string };
    const target = String(request.headers['x-amz-target'] ?? '');
    if (target !== 'secretsmanager.GetSecretValue' || body.SecretId !== secretId) {
      return sendJson(response, 400, { __type: 'ResourceNotFoundException', message: `no secret ${body.SecretId}` }, { 'content-type': 'application/x-amz-json-1.1' });
    }
    calls++;
    sendJson(
      response,
      200,
      {
        ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${secretId}-AbCdEf`,
        Name: secretId,
        VersionId: '00000000-0000-0000-0000-000000000001',
        SecretString: JSON.stringify(value),
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      },
      { 'content-type': 'application/x-amz-json-1.1' },
    );
  });
  return { url: server.url, calls: () => calls, close: () => server.close() };
}
