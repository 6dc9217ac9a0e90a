// Loaded with NODE_OPTIONS=--import=<this file>: on exit, writes the process's peak resident set
// size (kB, process.resourceUsage().maxRSS) to $GAN_MAX_RSS_FILE, so a test can bound the memory a
// real CLI run took, whichever way it exits.
import { writeFileSync } from 'node:fs';

const file = process.env.GAN_MAX_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
