import { createLogger } from './log';
import { makeMetricEmitter, METRIC_NAMES } from './metrics';

describe('metrics through the logger', () => {
  const stdout = jest.spyOn(process.stdout, 'write');
  afterAll(() => stdout.mockRestore());

  function logger(level: 'info' | 'warn' | 'silent', secret = 'not-a-secret-value') {
    const lines: string[] = [];
    const log = createLogger({
      level,
      sink: (line) => lines.push(line),
      redact: () => [secret],
      metrics: (write) => makeMetricEmitter({ fn: 'slack-worker', stage: 'prod', write }),
    });
    return { log, lines };
  }

  it('writes one EMF line per count through the logger sink, never straight to stdout', () => {
    stdout.mockClear();
    const { log, lines } = logger('warn');
    log.child({ channel: 'C1', incidentId: 'PINC', text: 'customer words' }).metric(METRIC_NAMES.escalationsPaged);
    log.metric(METRIC_NAMES.slackRateLimited, 2);
    expect(stdout).not.toHaveBeenCalled();
    expect(lines).toHaveLength(2);
    const [paged, limited] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(paged).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'pd-router', Dimensions: [['service', 'stage', 'function']], Metrics: [{ Name: 'EscalationsPaged', Unit: 'Count' }] }] },
      service: 'pd-router',
      stage: 'prod',
      function: 'slack-worker',
      channel: 'C1',
      incidentId: 'PINC',
      EscalationsPaged: 1,
    });
    // Only the listed context fields ride along: no customer text in a metric line.
    expect(paged).not.toHaveProperty('text');
    // Properties of one line do not leak into the next.
    expect(limited).toMatchObject({ SlackRateLimited: 2 });
    expect(limited).not.toHaveProperty('channel');
  });

  it('scrubs secrets from metric lines like from log lines, and writes none at `silent`', () => {
    const { log, lines } = logger('info', 'xoxb-secret-token');
    log.child({ channel: 'xoxb-secret-token' }).metric(METRIC_NAMES.messagesParked);
    expect(lines.join('\n')).not.toContain('xoxb-secret-token');
    expect(lines.join('\n')).toContain('[redacted]');
    const silent = logger('silent');
    silent.log.metric(METRIC_NAMES.messagesParked);
    expect(silent.lines).toEqual([]);
  });

  it('writes nothing without an emitter, as in the ingress functions', () => {
    const lines: string[] = [];
    createLogger({ sink: (line) => lines.push(line) }).metric(METRIC_NAMES.messagesParked);
    expect(lines).toEqual([]);
  });
});
