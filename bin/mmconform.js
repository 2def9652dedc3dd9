#!/usr/bin/env node
// The package runs from its TypeScript sources: tsx compiles them on import.
// Both hooks: a user's layout.ts outside an ESM package (say in /tmp) loads as CommonJS.
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

// A reader that stops early (`| head`) closes the pipe; that deserves no stack trace.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit();
});
register();
registerCjs();
const { main } = await import('../harness/cli.ts');
process.exitCode = await main(process.argv.slice(2));
