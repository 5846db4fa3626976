import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { createPagerDutyIngressHandler } from '../../functions/pagerduty-ingress/wiring';
import { makePagerDutyIngress } from '../../functions/pagerduty-ingress/pagerduty-ingress';
import { createSlackIngressHandler } from '../../functions/slack-ingress/wiring';
import { makeSlackIngress } from '../../functions/slack-ingress/slack-ingress';
import { PAGERDUTY_HANDLED_EVENT_TYPES, type QueueRouting } from '../../lib/events';
import { MAX_BODY_BYTES, type IngressRequest, type IngressResponse } from '../../lib/runtime/http';
import { createLogger } from '../../lib/runtime/log';
import type { EventQueue } from '../../lib/queue/queue';
import { LOCAL_AWS_ENV, startLocalSqs, type LocalSqs } from '../../local/aws';
import { drainQueue } from '../support/queue';

/**
 * Garbage on the public URLs, fuzzed: random and mutated bodies, headers, encodings, content
 * types, sizes, timestamps and signatures, against both ingress handlers (the logic as the Lambda
 * runs it, and the Lambda handler itself with API Gateway events and real SQS). For every case:
 * no throw, never a 5xx, every rejection a 4xx with a JSON `{error}` saying why, and nothing
 * enqueued unless the request carried a valid signature (an independent check decides that).
 */

const SLACK_SECRET = 'fuzz-slack-signing-secret-4f1d2c';
const PD_KEY = 'fuzz-pagerduty-signing-key-9e8b7a';
const NOW = new Date('2026-11-26T12:00:00.000Z');
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
const SLASH = '/piiano-pd-trigger';

const hmac = (key: string, data: Buffer) => createHmac('sha256', key).update(data).digest('hex');

/** Slack's own rule, written independently of lib/signatures: v0 HMAC over `v0:ts:body`, ts within 5 minutes. */
function slackSignatureIsValid(headers: Record<string, string>, body: Buffer): boolean {
  const find = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  const ts = find('x-slack-request-timestamp');
  const signature = find('x-slack-signature');
  if (!ts || !signature || !/^\d+$/.test(ts) || Math.abs(NOW_SECONDS - Number(ts)) > 300) return false;
  return signature === `v0=${hmac(SLACK_SECRET, Buffer.concat([Buffer.from(`v0:${ts}:`), body]))}`;
}

/** PagerDuty's rule: any `v1=` signature in the header is the HMAC of the raw body. */
function pagerDutySignatureIsValid(headers: Record<string, string>, body: Buffer): boolean {
  const value = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-pagerduty-signature')?.[1];
  if (!value) return false;
  const expected = `v1=${hmac(PD_KEY, body)}`;
  return value.split(',').some((part) => part.trim() === expected);
}

/** A queue that records what it is given (the property is about the ingress logic, not SQS). */
function recordingQueue() {
  const sent: { event: Record<string, unknown>; routing: QueueRouting }[] = [];
  const queue: EventQueue = {
    async send(event, routing) {
      sent.push({ event: JSON.parse(JSON.stringify(event)) as Record<string, unknown>, routing });
    },
  };
  return { sent, queue };
}

/** Every answer must be one of these, and a rejection must say why. */
function expectWellFormedAnswer(response: IngressResponse) {
  expect(response.statusCode).toBeGreaterThanOrEqual(200);
  expect(response.statusCode).toBeLessThan(500);
  if (response.statusCode >= 400) {
    expect(response.headers?.['content-type']).toBe('application/json');
    const body = JSON.parse(String(response.body)) as { error?: unknown };
    expect(typeof body.error).toBe('string');
    expect((body.error as string).length).toBeGreaterThan(3);
  }
}

// ---------- arbitraries ----------

type ArbitraryValue<A> = A extends fc.Arbitrary<infer T> ? T : never;

const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', ' ', '\u0000', '<@U0BOT>', 'escalate', 'escalate x', 'piiano-ping-bot'));
/** Mostly well-formed, sometimes not: garbage everywhere would be rejected before reaching anything interesting. */
const often = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: bad });
const slackId = often(fc.stringMatching(/^[CUTGDW][A-Z0-9]{2,11}$/), anyText);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
/** A JSON value that may replace a field: wrong types, nulls, nesting. */
const wrongValue = fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), anyText, fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }));

const mentionEnvelope = fc
  .record({
    channel: slackId,
    user: slackId,
    team: slackId,
    text: fc.oneof(anyText, anyText.map((t) => `<@UBOT> escalate ${t}`), fc.constant('<@UBOT> piiano-ping-bot')),
    eventId: often(fc.stringMatching(/^Ev[A-Z0-9]{8,12}$/), anyText),
    ts: often(fc.stringMatching(/^\d{10}\.\d{6}$/), anyText),
    threadTs: maybe(fc.stringMatching(/^\d{10}\.\d{6}$/)),
    eventType: often(fc.constant('app_mention'), fc.constantFrom('message', 'reaction_added', '')),
    envelopeType: often(fc.constant('event_callback'), fc.constantFrom('url_verification', 'app_rate_limited', 'nonsense')),
    challenge: maybe(anyText),
    broken: rarely(fc.tuple(fc.constantFrom('event', 'event_id', 'team_id', 'channel', 'user', 'ts', 'authorizations', 'challenge'), wrongValue)),
  })
  .map((r) => {
    const event: Record<string, unknown> = { type: r.eventType, user: r.user, text: r.text, ts: r.ts, channel: r.channel, team: r.team, ...(r.threadTs ? { thread_ts: r.threadTs } : {}) };
    const envelope: Record<string, unknown> = {
      type: r.envelopeType,
      team_id: r.team,
      api_app_id: 'A0PDROUTER',
      event_id: r.eventId,
      event_time: NOW_SECONDS,
      authorizations: [{ user_id: 'UBOT', is_bot: true }],
      event,
      ...(r.challenge !== undefined ? { challenge: r.challenge } : {}),
    };
    if (r.broken) {
      const [field, value] = r.broken;
      if (field in event) event[field] = value;
      else envelope[field] = value;
    }
    return { contentType: 'application/json', body: JSON.stringify(envelope) };
  });

const blockActions = fc
  .record({
    channel: slackId,
    user: slackId,
    team: slackId,
    value: often(fc.stringMatching(/^pdr-[0-9a-f]{32}$/), anyText),
    actionId: often(fc.constant('check_status'), fc.constantFrom('other_button', '')),
    triggerId: often(fc.stringMatching(/^\d+\.\d+\.[0-9a-f]{8}$/), anyText),
    type: often(fc.constant('block_actions'), fc.constantFrom('view_submission', 'shortcut')),
    broken: rarely(fc.tuple(fc.constantFrom('actions', 'team', 'user', 'channel', 'trigger_id', 'container'), wrongValue)),
    asJson: often(fc.constant(true), fc.constant(false)),
  })
  .map((r) => {
    const payload: Record<string, unknown> = {
      type: r.type,
      trigger_id: r.triggerId,
      team: { id: r.team },
      user: { id: r.user },
      channel: { id: r.channel },
      container: { channel_id: r.channel, message_ts: '1700000000.000100' },
      actions: [{ action_id: r.actionId, value: r.value, type: 'button' }],
    };
    if (r.broken) payload[r.broken[0]] = r.broken[1];
    return { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams({ payload: r.asJson ? JSON.stringify(payload) : String(r.value) }).toString() };
  });

const slashCommand = fc
  .record({
    fields: fc.record({
      team_id: often(slackId, fc.constant(undefined)),
      channel_id: often(slackId, fc.constant(undefined)),
      user_id: often(slackId, fc.constant(undefined)),
      command: often(fc.constant(SLASH), fc.constantFrom('/other', '', 'escalate')),
      text: anyText,
      trigger_id: often(fc.stringMatching(/^\d+\.\d+\.[0-9a-f]{8}$/), maybe(anyText)),
      response_url: maybe(anyText),
      channel_name: maybe(anyText),
    }),
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  })
  .map(({ fields, extra }) => {
    const form = new URLSearchParams(extra);
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) form.set(k, v);
    return { contentType: 'application/x-www-form-urlencoded', body: form.toString() };
  });

const otherSlackBodies = fc.oneof(
  fc.constant({ contentType: 'application/x-www-form-urlencoded', body: 'ssl_check=1&token=x' }),
  fc.json({ maxDepth: 3 }).map((body) => ({ contentType: 'application/json', body })),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 5 }).map((d) => ({ contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(d).toString() })),
  anyText.map((body) => ({ contentType: 'text/plain', body })),
);

const slackBody = fc.oneof({ weight: 4, arbitrary: mentionEnvelope }, { weight: 2, arbitrary: blockActions }, { weight: 2, arbitrary: slashCommand }, { weight: 2, arbitrary: otherSlackBodies });

const pagerDutyBody = fc
  .record({
    eventType: often(fc.constantFrom(...PAGERDUTY_HANDLED_EVENT_TYPES), fc.oneof(fc.constantFrom('pagey.ping', 'incident.annotated', 'incident.responder.added', 'service.created', ''), anyText)),
    resourceType: often(fc.constant('incident'), fc.constantFrom('service', undefined)),
    id: often(fc.stringMatching(/^[A-Z0-9]{14}$/), anyText),
    incidentId: often(fc.stringMatching(/^Q[A-Z0-9]{12}$/), anyText),
    occurredAt: often(fc.date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') }).map((d) => d.toISOString()), anyText),
    incidentKey: maybe(fc.oneof(fc.stringMatching(/^pdr-[0-9a-f]{32}$/), anyText)),
    agent: fc.oneof(fc.constant(null), fc.record({ summary: anyText })),
    number: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
    broken: rarely(fc.tuple(fc.constantFrom('event', 'data', 'id', 'occurred_at', 'assignees', 'priority', 'agent', 'status'), wrongValue)),
  })
  .map((r) => {
    const data: Record<string, unknown> = { id: r.incidentId, type: 'incident', number: r.number, status: 'acknowledged', incident_key: r.incidentKey ?? null, title: 'Database down', assignees: [{ summary: 'Dana' }], priority: null, urgency: 'high' };
    const event: Record<string, unknown> = { id: r.id, event_type: r.eventType, resource_type: r.resourceType, occurred_at: r.occurredAt, agent: r.agent, client: null, data };
    const body: Record<string, unknown> = { event };
    if (r.broken) {
      const [field, value] = r.broken;
      if (field === 'event') body.event = value;
      else if (field in event) event[field] = value;
      else data[field] = value;
    }
    return { contentType: 'application/json', body: JSON.stringify(body) };
  });

const pagerDutyAnyBody = fc.oneof({ weight: 6, arbitrary: pagerDutyBody }, { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((body) => ({ contentType: 'application/json', body })) }, { weight: 1, arbitrary: anyText.map((body) => ({ contentType: 'text/plain', body })) });

/** What can happen to the bytes on the way. */
const bodyMutation = fc.oneof(
  { weight: 14, arbitrary: fc.constant((b: Buffer) => b) },
  { weight: 1, arbitrary: fc.nat().map((n) => (b: Buffer) => (b.length ? Buffer.concat([b.subarray(0, n % b.length), Buffer.from([b[n % b.length]! ^ 0x20]), b.subarray((n % b.length) + 1)]) : b)) },
  { weight: 1, arbitrary: fc.nat().map((n) => (b: Buffer) => b.subarray(0, b.length ? n % b.length : 0)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => () => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), Buffer.from([0xc3, 0x28]), Buffer.from('{"type":"url_verification","challenge":"\ud800"}'), Buffer.alloc(0)).map((bytes) => () => bytes) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 2).map((size) => () => Buffer.alloc(size, 0x61)) },
  { weight: 1, arbitrary: fc.constant((b: Buffer) => Buffer.concat([b, Buffer.alloc(MAX_BODY_BYTES, 0x20)])) },
);

const contentTypeHeader = fc.oneof(
  { weight: 10, arbitrary: fc.constant(undefined as string | undefined) }, // keep the body's own
  { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/x-www-form-urlencoded; charset=UTF-8', 'text/plain', 'multipart/form-data; boundary=x', '', ';', 'application/json;;;', 'application/xml') },
  { weight: 1, arbitrary: anyText },
);

/** Signing: how the request is (or is not, or wrongly) signed. */
const slackSigning = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('valid' as const), skew: fc.integer({ min: -290, max: 290 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale-or-future' as const), skew: fc.oneof(fc.integer({ min: 301, max: 10 ** 9 }), fc.integer({ min: -(10 ** 9), max: -301 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-secret' as const), skew: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('missing' as const), which: fc.constantFrom('signature', 'timestamp', 'both') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), signature: fc.oneof(anyText, fc.stringMatching(/^v[0-9]=[0-9a-fA-F]{0,70}$/)), timestamp: fc.oneof(anyText, fc.constantFrom(String(NOW_SECONDS), `${NOW_SECONDS}.5`, ` ${NOW_SECONDS}`, `-${NOW_SECONDS}`, '9'.repeat(40), '0x10', '1e9')) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('uppercase-hex' as const), skew: fc.constant(0) }) },
);

const headerCase = fc.constantFrom((n: string) => n, (n: string) => n.toUpperCase(), (n: string) => n.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()));

function slackHeaders(body: Buffer, signing: ArbitraryValue<typeof slackSigning>, casing: (n: string) => string, bodyForSigning: Buffer): Record<string, string> {
  const h: Record<string, string> = {};
  const set = (name: string, value: string) => (h[casing(name)] = value);
  switch (signing.kind) {
    case 'valid':
    case 'stale-or-future':
    case 'wrong-secret':
    case 'uppercase-hex': {
      const ts = String(NOW_SECONDS + signing.skew);
      let signature = hmac(signing.kind === 'wrong-secret' ? 'not-the-secret' : SLACK_SECRET, Buffer.concat([Buffer.from(`v0:${ts}:`), bodyForSigning]));
      if (signing.kind === 'uppercase-hex') signature = signature.toUpperCase();
      set('x-slack-request-timestamp', ts);
      set('x-slack-signature', `v0=${signature}`);
      break;
    }
    case 'missing':
      if (signing.which !== 'timestamp') set('x-slack-request-timestamp', String(NOW_SECONDS));
      if (signing.which !== 'signature') set('x-slack-signature', `v0=${hmac(SLACK_SECRET, Buffer.concat([Buffer.from(`v0:${NOW_SECONDS}:`), body]))}`);
      break;
    case 'garbage':
      set('x-slack-request-timestamp', signing.timestamp);
      set('x-slack-signature', signing.signature);
      break;
  }
  return h;
}

const pagerDutySigning = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('valid' as const), others: fc.array(fc.stringMatching(/^v1=[0-9a-f]{64}$/), { maxLength: 2 }), position: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-key' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('missing' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), value: fc.oneof(anyText, fc.stringMatching(/^(v[0-9]=[0-9a-fA-F]{0,70},?\s?){0,4}$/), fc.constant(',,,,'), fc.constant(`v1=${'0'.repeat(64)},`.repeat(50))) }) },
);

function pagerDutyHeaders(signing: ArbitraryValue<typeof pagerDutySigning>, casing: (n: string) => string, bodyForSigning: Buffer, webhookId: string | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  if (webhookId !== undefined) h[casing('x-webhook-id')] = webhookId;
  if (signing.kind === 'valid') {
    const list = [...signing.others];
    list.splice(Math.min(signing.position, list.length), 0, `v1=${hmac(PD_KEY, bodyForSigning)}`);
    h[casing('x-pagerduty-signature')] = list.join(',');
  } else if (signing.kind === 'wrong-key') h[casing('x-pagerduty-signature')] = `v1=${hmac('not-the-key', bodyForSigning)}`;
  else if (signing.kind === 'garbage') h[casing('x-pagerduty-signature')] = signing.value;
  return h;
}

/** A whole Slack request: body, mutation (before or after signing), headers. */
const slackRequest = fc.record({ body: slackBody, mutation: bodyMutation, mutateBeforeSigning: fc.boolean(), signing: slackSigning, casing: headerCase, contentType: contentTypeHeader, retry: maybe(fc.constantFrom('1', '2', '3', 'x')) }).map((r) => {
  const original = Buffer.from(r.body.body, 'utf8');
  const mutated = r.mutation(original);
  // Signed garbage (mutated, then signed) is Slack itself sending something odd; mutated after signing is tampering.
  const signed = r.mutateBeforeSigning ? mutated : original;
  const headers = { ...slackHeaders(mutated, r.signing, r.casing, signed), [r.casing('content-type')]: r.contentType ?? r.body.contentType, ...(r.retry ? { 'X-Slack-Retry-Num': r.retry } : {}) };
  return { rawBody: mutated, headers } satisfies IngressRequest;
});

const pagerDutyRequest = fc.record({ body: pagerDutyAnyBody, mutation: bodyMutation, mutateBeforeSigning: fc.boolean(), signing: pagerDutySigning, casing: headerCase, contentType: contentTypeHeader, webhookId: maybe(fc.oneof(fc.stringMatching(/^[0-9a-f]{24}$/), anyText)) }).map((r) => {
  const original = Buffer.from(r.body.body, 'utf8');
  const mutated = r.mutation(original);
  const signed = r.mutateBeforeSigning ? mutated : original;
  const headers = { ...pagerDutyHeaders(r.signing, r.casing, signed, r.webhookId), [r.casing('content-type')]: r.contentType ?? r.body.contentType };
  return { rawBody: mutated, headers } satisfies IngressRequest;
});

// ---------- properties ----------

const tally = () => new Map<string, number>();
const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

describe('fuzzing the ingress handlers', () => {
  it('slack-ingress logic, 5,000 cases: never throws, never 5xx, rejections say why, nothing enqueued without a valid signature', async () => {
    const { sent, queue } = recordingQueue();
    const handle = makeSlackIngress({ queue, slashCommand: SLASH, pingPhrase: 'piiano-ping-bot', logger: createLogger({ level: 'silent' }), now: () => NOW });
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(slackRequest, async (request) => {
        const before = sent.length;
        const response = await handle(request, SLACK_SECRET);
        expectWellFormedAnswer(response);
        const valid = slackSignatureIsValid(request.headers, request.rawBody);
        const enqueued = sent.length - before;
        if (!valid) {
          expect(enqueued).toBe(0);
          expect([401, 413]).toContain(response.statusCode);
          if (response.statusCode === 413) expect(request.rawBody.length).toBeGreaterThan(MAX_BODY_BYTES);
        }
        expect(enqueued).toBeLessThanOrEqual(1);
        count(outcomes, `${response.statusCode}${enqueued ? '+enqueued' : ''}`);
      }),
      { numRuns: 5000 },
    );
    // The run reached every kind of answer (so the generators are not all rejected at the door).
    for (const outcome of ['200+enqueued', '200', '400', '401', '413', '415']) expect(outcomes.get(outcome) ?? 0).toBeGreaterThan(20);
  });

  it('pagerduty-ingress logic, 4,000 cases: the same, and a genuine event we do not use is answered 2xx', async () => {
    const { sent, queue } = recordingQueue();
    const handle = makePagerDutyIngress({ queue, logger: createLogger({ level: 'silent' }), now: () => NOW });
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(pagerDutyRequest, async (request) => {
        const before = sent.length;
        const response = await handle(request, PD_KEY);
        expectWellFormedAnswer(response);
        const valid = pagerDutySignatureIsValid(request.headers, request.rawBody);
        const enqueued = sent.length - before;
        if (!valid) {
          expect(enqueued).toBe(0);
          expect([401, 413]).toContain(response.statusCode);
        } else if (request.rawBody.length <= MAX_BODY_BYTES) {
          // PagerDuty disables a subscription that gets 4xx: a signed, well-formed event is never refused.
          let body: { event?: { event_type?: unknown; id?: unknown } } | undefined;
          try {
            body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.rawBody)) as typeof body;
          } catch {
            body = undefined;
          }
          const type = body?.event?.event_type;
          if (type === 'pagey.ping' || (typeof type === 'string' && type !== '' && typeof body?.event?.id === 'string' && body.event.id !== '' && !(PAGERDUTY_HANDLED_EVENT_TYPES as readonly string[]).includes(type))) {
            expect(response.statusCode).toBe(202);
            expect(enqueued).toBe(0);
          }
        }
        expect(enqueued).toBeLessThanOrEqual(1);
        count(outcomes, `${response.statusCode}${enqueued ? '+enqueued' : ''}`);
      }),
      { numRuns: 4000 },
    );
    for (const outcome of ['202+enqueued', '202', '400', '401', '413']) expect(outcomes.get(outcome) ?? 0).toBeGreaterThan(20);
  });

  describe('the Lambda handlers themselves: API Gateway events, base64 or not, into real SQS (fauxqs)', () => {
    let sqs: LocalSqs;
    beforeAll(async () => {
      for (const [key, value] of Object.entries(LOCAL_AWS_ENV)) process.env[key] ??= value;
      sqs = await startLocalSqs({ stage: 'fuzz' });
      // The handlers read the real clock: hold it at NOW, so the timestamps the cases were signed with mean what they say.
      jest.useFakeTimers({ now: NOW, doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    });
    afterAll(async () => {
      jest.useRealTimers();
      await sqs.stop();
    });

    const context = { awsRequestId: 'fuzz', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    const gatewayEvent = (request: IngressRequest, encoding: 'base64' | 'text' | 'broken-base64' | 'no-body', headersMissing: boolean): APIGatewayProxyEventV2 =>
      ({
        version: '2.0',
        routeKey: 'POST /x',
        rawPath: '/x',
        rawQueryString: '',
        headers: headersMissing ? undefined : Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
        requestContext: { http: { method: 'POST', path: '/x' } },
        ...(encoding === 'no-body'
          ? { isBase64Encoded: false }
          : encoding === 'base64'
            ? { body: request.rawBody.toString('base64'), isBase64Encoded: true }
            : encoding === 'broken-base64'
              ? { body: `${request.rawBody.toString('base64')}!!*`, isBase64Encoded: true }
              : { body: request.rawBody.toString('utf8'), isBase64Encoded: false }),
      }) as unknown as APIGatewayProxyEventV2;
    const encoding = fc.constantFrom('base64', 'base64', 'base64', 'text', 'text', 'broken-base64', 'no-body') as fc.Arbitrary<'base64' | 'text' | 'broken-base64' | 'no-body'>;

    it.each([
      ['slack-ingress', 600, () => createSlackIngressHandler({ SLACK_EVENTS_QUEUE_URL: sqs.queues.slack.url, SLACK_SIGNING_SECRET: SLACK_SECRET, AWS_ENDPOINT_URL_SQS: sqs.endpoint, LOG_LEVEL: 'silent' }), slackRequest, 'slack' as const],
      ['pagerduty-ingress', 400, () => createPagerDutyIngressHandler({ PAGERDUTY_EVENTS_QUEUE_URL: sqs.queues.pagerduty.url, PAGER_DUTY_SIGNING_KEY: PD_KEY, AWS_ENDPOINT_URL_SQS: sqs.endpoint, LOG_LEVEL: 'silent' }), pagerDutyRequest, 'pagerduty' as const],
    ] as const)('%s, %i cases: never throws, never 5xx, only validly signed events reach the queue', async (_name, runs, create, requests, queueName) => {
      const handler = create();
      const validIds = new Set<string>();
      await fc.assert(
        fc.asyncProperty(requests, encoding, often(fc.constant(false), fc.constant(true)), async (request, how, headersMissing) => {
          const event = gatewayEvent(request, how, headersMissing);
          // What the Lambda really received, after API Gateway's encoding.
          const received = how === 'no-body' ? Buffer.alloc(0) : how === 'text' ? Buffer.from(request.rawBody.toString('utf8'), 'utf8') : Buffer.from(String(event.body), 'base64');
          const headers = headersMissing ? {} : request.headers;
          const valid = queueName === 'slack' ? slackSignatureIsValid(headers, received) : pagerDutySignatureIsValid(headers, received);
          const response = (await handler(event, context)) as IngressResponse;
          expectWellFormedAnswer(response);
          if (!valid) expect([401, 413]).toContain(response.statusCode);
          if (valid) {
            try {
              const parsed = JSON.parse(received.toString('utf8')) as { event_id?: unknown; event?: { id?: unknown } };
              for (const id of [parsed.event_id, parsed.event?.id]) if (typeof id === 'string') validIds.add(id);
            } catch {
              const form = new URLSearchParams(received.toString('utf8'));
              const fromPayload = (() => {
                try {
                  return (JSON.parse(form.get('payload') ?? '') as { trigger_id?: unknown }).trigger_id;
                } catch {
                  return undefined;
                }
              })();
              for (const id of [form.get('trigger_id'), fromPayload]) if (typeof id === 'string') validIds.add(id);
            }
          }
        }),
        { numRuns: runs },
      );
      const queued = await drainQueue(sqs.client, sqs.queues[queueName].url);
      expect(queued.length).toBeGreaterThan(5);
      for (const message of queued) expect(validIds).toContain(message.body.id);
    });
  });
});
