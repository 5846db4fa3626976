import { startStack, type LocalStack } from '../local/stack';
import { mentionEnvelope, post, signedSlackJson } from './helpers/requests';

describe('escalation smoke', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startStack({ env: {}, visibilityTimeoutSeconds: 2, retryBaseSeconds: 0, logLevel: 'silent' });
  });
  afterAll(() => stack.stop());

  it('a signed mention triggers one incident and one confirmation in its channel', async () => {
    const envelope = mentionEnvelope({ channel: 'CACME', text: 'escalate API is returning 500 errors' });
    const response = await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, envelope));
    expect(response.status).toBe(200);
    await stack.waitForIdle();
    expect(stack.pagerDuty!.triggers).toHaveLength(1);
    const messages = stack.slack!.messages.filter((m) => m.user !== 'UCUSTOMER1');
    console.log(JSON.stringify(messages, null, 1), stack.pagerDuty!.deliveries);
  });
});
