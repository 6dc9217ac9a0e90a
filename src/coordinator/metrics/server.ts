/**
 * The run's one HTTP endpoint: `/metrics` (Prometheus text format) and `/healthz`. Bound to
 * 127.0.0.1 unless --metrics-bind says otherwise.
 */
import { createServer, type Server } from 'node:http';
import type { RunMetrics } from './registry.js';

/** What `/healthz` reports. */
export interface Health {
  status: 'starting' | 'training' | 'finished' | 'failed';
  globalStep: number;
  workers: number;
}

/** A running metrics server. */
export interface MetricsServer {
  /** `http://host:port` it listens on. */
  url: string;
  close(): Promise<void>;
}

/** Starts the server; port 0 picks a free one. */
export async function startMetricsServer(metrics: RunMetrics, host: string, port: number, health: () => Health): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.refresh();
      metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
        .catch((err) => res.writeHead(500).end(String(err)));
      return;
    }
    if (path === '/healthz') {
      const h = health();
      res.writeHead(h.status === 'failed' ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(h) + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
