import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * HTTPS fronts on 127.0.0.1 for local plain-HTTP services (fauxqs, dynalite, the Secrets Manager
 * stand-in), sharing one throwaway self-signed certificate (`caFile`, for NODE_EXTRA_CA_CERTS,
 * which Lambda's Node runtimes set too). Lambda reaches AWS over TLS through the SDK's statically
 * loaded `node:https`; a plain-HTTP endpoint instead makes the SDK `import("node:http")` on its
 * first call, which starts Node's ES module loader (~25 ms that Lambda never pays) and skips the
 * TLS handshake (which Lambda does pay). Cold starts are measured through these fronts so that
 * they pay what Lambda pays.
 */
export async function startTlsFronts(targets: readonly string[], workDir: string): Promise<{ urls: string[]; caFile: string; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(workDir, 'tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  const tls = { key: readFileSync(keyFile), cert: readFileSync(caFile) };
  const servers = await Promise.all(
    targets.map(async (target) => {
      const upstream = new URL(target);
      const server = https.createServer(tls, (request, response) => {
        const forward = http.request({ host: upstream.hostname, port: upstream.port, path: request.url, method: request.method, headers: request.headers }, (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        });
        forward.on('error', () => {
          response.writeHead(502);
          response.end();
        });
        request.pipe(forward);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
  return {
    urls: servers.map((server) => `https://127.0.0.1:${(server.address() as AddressInfo).port}`),
    caFile,
    async close() {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
