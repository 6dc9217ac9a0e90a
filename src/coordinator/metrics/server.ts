/**
 * The run's one HTTP endpoint: `/metrics` (Prometheus text format), `/healthz`, and
 * `/samples/latest.png` (the newest sample grid, which the dashboard's "Latest samples" panel
 * shows). Bound to 127.0.0.1 unless --metrics-bind says otherwise. It shares the coordinator's
 * process, so it is bounded (http-bounds.ts: a connection cap, header and idle timeouts; what it
 * sheds is logged once and counted in gan_metrics_connections_shed_total) and, with
 * --metrics-token-file, /metrics answers only a bearer of the token (bearer.ts).
 */
import { createBoundedServer, METRICS_HTTP_BOUNDS, type HttpBounds } from '../../shared/http-bounds.js';
import { bearerCheck } from './bearer.js';
import type { RunMetrics, RunStatus } from './registry.js';

/** What `/healthz` reports. */
export interface Health {
  status: RunStatus;
  globalStep: number;
  workers: number;
}

/** A running metrics server. */
export interface MetricsServer {
  /** `http://host:port` it listens on. */
  url: string;
  close(): Promise<void>;
}

/** Scrapes the linger after a run waits for: the final values land in Prometheus even if one scrape fails. */
export const LINGER_SCRAPES = 2;

/**
 * Keeps the endpoint up after the run so Prometheus records its final values (status, last FID,
 * the last steps' counters): until `LINGER_SCRAPES` more /metrics answers, `seconds`, or `stop`
 * aborts (a stop signal), whichever comes first. When nothing ever scraped /metrics (no Prometheus
 * watches this run: tests, a port-0 run) there is nothing to wait for. Resolves with what ended it.
 */
export async function linger(metrics: RunMetrics, seconds: number, stop: AbortSignal, log: (line: string) => void): Promise<'scraped' | 'timeout' | 'signal' | 'unwatched' | 'off'> {
  if (seconds <= 0) return 'off';
  if (metrics.scrapeCount === 0) return 'unwatched';
  if (stop.aborted) return 'signal';
  log(`run ${metrics.runStatus}: /metrics stays up until ${LINGER_SCRAPES} more scrapes or ${seconds} s (--linger; a stop signal ends it now)`);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const scrapes = (async () => {
    for (let i = 0; i < LINGER_SCRAPES; i++) await metrics.nextScrape();
    return 'scraped' as const;
  })();
  try {
    return await Promise.race([
      scrapes,
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), seconds * 1000))),
      new Promise<'signal'>((resolve) => stop.addEventListener('abort', (onAbort = () => resolve('signal')), { once: true })),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) stop.removeEventListener('abort', onAbort);
  }
}

/** Optional parts of the metrics server. */
export interface MetricsServerOptions {
  /** /metrics answers only `authorization: Bearer <token>` (--metrics-token-file). */
  token?: string;
  /** Where the one line about shed connections goes. */
  log?: (line: string) => void;
  bounds?: HttpBounds;
}

/** Starts the server; port 0 picks a free one. */
export async function startMetricsServer(metrics: RunMetrics, host: string, port: number, health: () => Health, latestSample: () => Promise<Buffer | undefined> = async () => undefined, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const authorized = opts.token === undefined ? () => true : bearerCheck(opts.token);
  const bounded = createBoundedServer('metrics endpoint', opts.bounds ?? METRICS_HTTP_BOUNDS, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      if (!authorized(req)) {
        // Nothing about why; the connection goes, so a guesser holds no slot.
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain', connection: 'close' }).end('unauthorized\n');
        return;
      }
      metrics.refresh();
      metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text, () => metrics.scraped()))
        .catch((err) => res.writeHead(500).end(String(err)));
      return;
    }
    if (path === '/healthz') {
      // One source for the status: the metrics' state set (evaluating and checkpointing included).
      const h = { ...health(), status: metrics.runStatus };
      res.writeHead(h.status === 'failed' ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(h) + '\n');
      return;
    }
    if (path === '/samples/latest.png') {
      latestSample()
        .then((png) => {
          if (!png) return res.writeHead(404, { 'content-type': 'text/plain' }).end('no sample grid yet: the first is written after epoch 1\n');
          // Grafana's text panel loads it from the viewer's browser: allow that origin, never cache.
          res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store', 'access-control-allow-origin': '*' }).end(png);
        })
        .catch((err) => res.writeHead(500).end(String(err)));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /samples/latest.png\n');
  }, opts.log ?? (() => undefined));
  metrics.countShedConnections(bounded.shed);
  const bound = await bounded.listen(port, host);
  const server = bounded.server;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The run is over: held connections would keep close() waiting up to their timeouts.
        server.closeAllConnections();
      }),
  };
}
