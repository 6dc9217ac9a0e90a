/**
 * One place that bounds what a client can hold of an HTTP server that shares a process with
 * something worth more than the server: the metrics endpoint lives inside the coordinator (a
 * training run), the demo page beside nothing but still on a port anyone may reach.
 *
 * Threat model: an unauthenticated client on the network (the README suggests
 * `--metrics-bind 0.0.0.0`) opens connections and keeps them, sends headers slowly or never, or
 * pipelines requests forever. Without bounds every open connection holds a file descriptor of the
 * process; at the hard file limit the run's own next open (metrics.jsonl, a checkpoint file) fails
 * with EMFILE and the run ended before its first checkpoint (issue 31: 4,100 idle connections
 * against a 4,096 limit). With them:
 *  - a connection cap (`server.maxConnections`): Node accepts a connection over the cap and closes
 *    it at once, so a flood costs the process one descriptor for a moment, never one per client.
 *    Each refused connection is counted (`shed()`) and the first is logged, once, so an operator
 *    learns why a scrape failed without a line per connection flooding the log;
 *  - headersTimeout / requestTimeout (checked every `connectionsCheckingInterval`): a connection
 *    that never completes its headers, or a request that never ends, is answered 408 and closed;
 *  - an idle (inactivity) timeout per socket and keepAliveTimeout between requests: a held
 *    connection that does nothing is closed;
 *  - maxRequestsPerSocket: one connection cannot keep a slot for ever by asking again and again.
 * The slots a client can hold are thus at most `maxConnections` for at most `idleTimeoutMs` each
 * unless it keeps talking; a client that keeps them busy can deny the page (the cap sheds load),
 * never the run.
 *
 * A failed accept (the process is out of descriptors for another reason) arrives as the server's
 * 'error' event, which unhandled would throw and end the process: it is counted and logged like a
 * shed connection instead.
 *
 * Costs: a timer per connection (Node's own), one interval per server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** The limits of one server. */
export interface HttpBounds {
  /** Open connections at most; more are closed as they are accepted. */
  maxConnections: number;
  /** A request's headers must be complete this long after its connection (or the previous request) began. */
  headersTimeoutMs: number;
  /** A whole request must have arrived within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way is closed after this. */
  idleTimeoutMs: number;
  /** Requests one connection may make before the server closes it. */
  maxRequestsPerSocket: number;
}

/**
 * The metrics endpoint: Prometheus keeps one connection per target (two for an HA pair), Grafana's
 * sample panel a few per viewer; 64 leaves room for all of them and far more descriptors to the run
 * (at a 256-descriptor limit too). Keep-alive 10 s outlasts the shipped 5 s scrape interval, so a
 * scraper keeps its connection.
 */
export const METRICS_HTTP_BOUNDS: HttpBounds = {
  maxConnections: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxRequestsPerSocket: 1000,
};

/** The demo page: a browser opens about six connections per origin; a few viewers at once. */
export const DEMO_HTTP_BOUNDS: HttpBounds = {
  maxConnections: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxRequestsPerSocket: 1000,
};

/** A bounded server and what it has shed. */
export interface BoundedServer {
  server: Server;
  /** Connections refused over the cap, and accepts that failed, since the start. */
  shed(): number;
  /** Listens; resolves with the bound port (port 0 picks a free one), rejects with the listen error. */
  listen(port: number, host: string): Promise<number>;
}

/**
 * An HTTP server with `bounds`. `log` gets one line the first time a connection is shed (never
 * more: the count is in `shed()`); `name` names the server in it.
 */
export function createBoundedServer(
  name: string,
  bounds: HttpBounds,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  log: (line: string) => void,
): BoundedServer {
  const server = createServer(
    {
      headersTimeout: bounds.headersTimeoutMs,
      requestTimeout: bounds.requestTimeoutMs,
      keepAliveTimeout: bounds.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, bounds.headersTimeoutMs / 4)),
    },
    handler,
  );
  server.maxConnections = bounds.maxConnections;
  server.maxRequestsPerSocket = bounds.maxRequestsPerSocket;
  // With no 'timeout' listener Node destroys a socket idle this long.
  server.timeout = bounds.idleTimeoutMs;
  let shed = 0;
  const count = (why: string) => {
    if (shed++ === 0) log(`${name}: ${why}; shedding load (the run is not affected; later ones are counted, not logged)`);
  };
  server.on('drop', () => count(`more than ${bounds.maxConnections} open connections: closing the new ones at once`));
  let listening = false;
  server.on('error', (err: NodeJS.ErrnoException) => {
    // Before listening, the error belongs to listen() (it rejects); after, it is a failed accept.
    if (listening) count(`accepting a connection failed (${err.code ?? err.message})`);
  });
  return {
    server,
    shed: () => shed,
    listen: (port, host) =>
      new Promise<number>((resolve, reject) => {
        const fail = (err: Error) => reject(err);
        server.once('error', fail);
        server.listen(port, host, () => {
          server.off('error', fail);
          listening = true;
          const addr = server.address();
          resolve(typeof addr === 'object' && addr ? addr.port : port);
        });
      }),
  };
}
