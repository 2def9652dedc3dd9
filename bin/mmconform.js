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
// Exit now rather than when the event loop drains: a suite cut short by a
// timeout or a signal may still be running on an in-process target.
// (stdout and stderr are synchronous on Linux, so nothing written is lost.)
process.exit(await main(process.argv.slice(2)));
