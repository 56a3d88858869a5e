#!/usr/bin/env node
// The installed `berth` command: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(`berth: ${fileURLToPath(entry)} is missing; run "npm run build" in ${fileURLToPath(new URL('..', import.meta.url))}\n`);
  process.exit(1);
}
process.stdout.on('error', () => undefined);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
