import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FetchHeaders, nodeHttpFetch } from './node-http-fetch';

describe('nodeHttpFetch', () => {
  let server: Server;
  let base: string;
  const seen: { method?: string; url?: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (request.url === '/slow') {
          const timer = setTimeout(() => response.end('late'), 2000);
          return void response.on('close', () => clearTimeout(timer));
        }
        if (request.url === '/moved') return void response.writeHead(302, { location: '/json' }).end();
        if (request.url === '/limited') return void response.writeHead(429, { 'Retry-After': '7' }).end('{"ok":false}');
        response.setHeader('Set-Cookie', ['a=1', 'b=2']);
        response.writeHead(200, 'Fine', { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify({ ok: true, text: 'é' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the method, headers and string body, and reads the answer as fetch does', async () => {
    const response = await nodeHttpFetch(`${base}/json`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Two': 'b' }, body: 'a=é' });
    const request = seen.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', url: '/json', body: 'a=é' });
    expect(request.headers).toMatchObject({ 'content-type': 'application/x-www-form-urlencoded', 'x-two': 'b', 'content-length': String(Buffer.byteLength('a=é')) });
    expect(response).toMatchObject({ ok: true, status: 200, statusText: 'Fine', url: `${base}/json` });
    expect(response.headers.get('CONTENT-TYPE')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(await response.json()).toEqual({ ok: true, text: 'é' });
  });

  it('hands a 429 back with its headers, and accepts pdjs-style Headers', async () => {
    const response = await nodeHttpFetch(`${base}/limited`, { headers: new FetchHeaders({ Accept: 'application/json' }) });
    expect(seen.at(-1)!.headers.accept).toBe('application/json');
    expect(response.ok).toBe(false);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(new TextDecoder().decode(await response.arrayBuffer())).toBe('{"ok":false}');
  });

  it("rejects with the signal's reason when it times out", async () => {
    await expect(nodeHttpFetch(`${base}/slow`, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('rejects an unreachable host as the runtime fetch does', async () => {
    await expect(nodeHttpFetch('http://127.0.0.1:1/')).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed' });
  });

  it('refuses a redirect when told to, and leaves following one to the runtime fetch', async () => {
    await expect(nodeHttpFetch(`${base}/moved`, { method: 'POST', body: 'x', redirect: 'error' })).rejects.toMatchObject({ name: 'TypeError' });
    const followed = await nodeHttpFetch(`${base}/moved`);
    expect(followed.status).toBe(200);
    expect(followed.url).toBe(`${base}/json`);
    expect(await followed.json()).toEqual({ ok: true, text: 'é' });
  });
});

describe('FetchHeaders', () => {
  it('is case-insensitive, joins repeated values and iterates sorted, as fetch Headers do', () => {
    const headers = new FetchHeaders([
      ['B', '1'],
      ['a', '2'],
      ['b', '3'],
    ]);
    expect(headers.get('b')).toBe('1, 3');
    expect(headers.has('A')).toBe(true);
    expect([...headers]).toEqual([
      ['a', '2'],
      ['b', '1, 3'],
    ]);
    headers.set('A', 'x');
    headers.delete('b');
    expect(Object.fromEntries(headers)).toEqual({ a: 'x' });
  });
});
