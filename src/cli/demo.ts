/** `npm run demo -- --ckpt latest`: the checkpoint's generator drawing digits in the browser. */
import { resolveCheckpoint, verifyCheckpoint } from '../shared/checkpoint/store.js';
import { DEMO_FLAGS } from '../shared/config.js';
import { startDemoServer } from '../demo/server.js';
import { runCli } from './main.js';

/** The page can't be served; one line. */
class DemoError extends Error {}

await runCli('npm run demo --', DEMO_FLAGS, async (flags) => {
  const checkpoint = await resolveCheckpoint(flags.ckpt as string, flags['run-dir'] as string | undefined);
  const state = await verifyCheckpoint(checkpoint);
  const bind = flags.bind as string;
  const port = flags.port as number;
  const { server, url } = await startDemoServer({ checkpoint, state, bind, port, log: (l) => process.stderr.write(`demo: ${l}\n`) }).catch((err: NodeJS.ErrnoException) => {
    throw new DemoError(`cannot listen on ${bind}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (--port 0 picks a free one)' : err.message}`);
  });
  process.stderr.write(`demo: ${checkpoint} (epoch ${state.epoch}, step ${state.globalStep}) at ${url}  (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close(() => resolve());
      // Held connections would keep close() waiting up to their timeouts.
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
});
