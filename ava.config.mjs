// ava's configuration for `npm test`: every test file, one file at a time (the end-to-end files start
// clusters that would compete for the cores). Test files run in child processes, not worker threads:
// zeromq.js and native TensorFlow misbehave in worker threads.
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  files: ['tests/**/*.test.ts'],
  timeout: '10m',
  concurrency: 1,
};
