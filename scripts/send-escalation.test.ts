import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runEscalate, type EscalateIo } from './send-escalation';

/**
 * The terminal confirmation of `npm run escalate` against a router that is not the local sandbox
 * (the process test in test/commands.test.ts covers the case without a terminal): the question
 * names the URL it would page, and only a yes sends.
 */
describe('npm run escalate asks before paging a router that is not the local sandbox', () => {
  let server: Server;
  let url: string;
  let received: number;

  beforeAll(async () => {
    server = createServer((request, response) => {
      received++;
      request.resume();
      request.on('end', () => response.writeHead(200).end('{}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => (received = 0));
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function io(answer: boolean | undefined) {
    const out = { stdout: [] as string[], stderr: [] as string[], questions: [] as string[] };
    const streams: EscalateIo = {
      env: { PD_ROUTER_URL: url, SLACK_SIGNING_SECRET: 'signing-secret-of-the-test' },
      confirm: async (question) => {
        out.questions.push(question);
        return answer;
      },
      stdout: (line) => out.stdout.push(line),
      stderr: (line) => out.stderr.push(line),
    };
    return { out, streams };
  }

  it('a no sends nothing and exits 1; the question named the URL, the channel and the words', async () => {
    const { out, streams } = io(false);
    expect(await runEscalate(['C0123ABC', 'checkout', 'is', 'down'], streams)).toBe(1);
    expect(out.questions).toEqual([`This pages the real on-call through the pd-router at ${url} (channel C0123ABC: "checkout is down"). Send it? [y/N] `]);
    expect(out.stderr).toEqual(['not sent']);
    expect(received).toBe(0);
  });

  it('a yes sends one request and says where', async () => {
    const { out, streams } = io(true);
    expect(await runEscalate(['C0123ABC', 'checkout is down'], streams)).toBe(0);
    expect(out.stderr).toEqual([`Paging through the pd-router at ${url}`]);
    expect(out.stdout).toEqual([`POST ${url}/slack/events → 200 {}`]);
    expect(received).toBe(1);
  });

  it('--yes sends without asking', async () => {
    const { out, streams } = io(false);
    expect(await runEscalate(['--yes', 'C0123ABC', 'checkout is down'], streams)).toBe(0);
    expect(out.questions).toEqual([]);
    expect(received).toBe(1);
  });
});
