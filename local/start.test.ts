import { createLogger } from '../lib/runtime/log';
import { makeMetricEmitter } from '../lib/runtime/metrics';
import { hideMetricLines, isMetricLine, readStartSettings } from './start';

/** What a function running in `npm start` writes: its JSON log lines and its metric (EMF) lines. */
function functionOutput(write: (line: string) => void) {
  const logger = createLogger({ level: 'info', sink: write, metrics: (sink) => makeMetricEmitter({ fn: 'slack-worker', stage: 'local', write: sink }) }, { channel: 'CACME' });
  logger.info('escalation confirmed', { note: 'a field named "_aws" in a log line is not a metric' });
  logger.metric('EscalationsReceived');
  logger.warn('PagerDuty answered slowly');
}

describe('npm start keeps metric lines off the terminal unless asked', () => {
  it('tells a metric line from a log line', () => {
    const lines: string[] = [];
    functionOutput((line) => lines.push(line));
    expect(lines.map(isMetricLine)).toEqual([false, true, false]);
    expect(isMetricLine('  #customer-acme ← pd-router: {"_aws": 1}')).toBe(false);
    expect(isMetricLine('{"_aws": not json')).toBe(false);
  });

  it('drops the metric lines from the stream and passes the rest as written, until put back', () => {
    const written: string[] = [];
    const stream = { write: (chunk: string | Uint8Array) => (written.push(String(chunk)), true) } as unknown as NodeJS.WriteStream;
    const restore = hideMetricLines(stream);
    functionOutput((line) => stream.write(`${line}\n`));
    stream.write(Buffer.from('plain text\n'));
    expect(written).toEqual([expect.stringContaining('"message":"escalation confirmed"'), expect.stringContaining('"message":"PagerDuty answered slowly"'), 'plain text\n']);
    expect(written.join('')).not.toContain('CloudWatchMetrics');
    restore();
    functionOutput((line) => stream.write(`${line}\n`));
    expect(written.join('')).toContain('CloudWatchMetrics');
  });

  it('shows them with LOG_LEVEL=debug, and only then', () => {
    expect(readStartSettings({}).showMetrics).toBe(false);
    expect(readStartSettings({ LOG_LEVEL: 'info' }).showMetrics).toBe(false);
    expect(readStartSettings({ LOG_LEVEL: 'debug' }).showMetrics).toBe(true);
  });
});
