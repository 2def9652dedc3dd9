#!/usr/bin/env node
// The package runs from its TypeScript sources: tsx compiles them on import.
// Both hooks: a user's layout.ts outside an ESM package (say in /tmp) loads as CommonJS.
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

// A reader that stops early (`| head`) closes the pipe: where a C program
// gets SIGPIPE, a command that stops cleanly on signals is told (run and fuzz
// end with the results so far, written where asked, and 141: harness/runner.ts
// STDOUT_CLOSED); any other ends at once with 141. Never a stack trace, never
// a success.
const STDOUT_CLOSED = 'mmconform:stdout-closed';
let piped = false;
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
  // later writes fail too: the command is stopping already
  if (piped) return;
  piped = true;
  if (process.listenerCount(STDOUT_CLOSED) > 0) process.emit(STDOUT_CLOSED);
  else process.exit(128 + 13);
});
register();
registerCjs();
const { main } = await import('../cli/main.ts');
// Exit now rather than when the event loop drains: a suite cut short by a
// timeout or a signal may still be running on an in-process target.
// (stdout and stderr are synchronous on Linux, so nothing written is lost.)
process.exit(await main(process.argv.slice(2)));
