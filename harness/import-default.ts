// The default export of a user's TypeScript or JavaScript module (a layout
// file, a module: target), each failure a one-line error.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { oneLineMessage } from './command.ts';

/** How long a module's top-level code may take: one that never settles would otherwise end Node silently (exit 13). */
const IMPORT_TIMEOUT_MS = 10_000;

/**
 * Imports `file` and returns its default export; `fail` makes the error of
 * each reason it cannot (`what` says what the default export should be).
 */
export async function importDefault(file: string, what: string, fail: (why: string) => Error): Promise<unknown> {
  let mod: { default?: unknown };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = fail(`its top-level code did not finish in ${IMPORT_TIMEOUT_MS / 1000} s`);
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late), IMPORT_TIMEOUT_MS);
  });
  try {
    mod = (await Promise.race([import(pathToFileURL(resolve(file)).href), stuck])) as { default?: unknown };
  } catch (e) {
    if (e === late) throw e;
    throw fail(`import failed: ${oneLineMessage(e)}`);
  } finally {
    clearTimeout(timer);
  }
  if (mod.default === undefined) throw fail(`no default export (export default ${what})`);
  return mod.default;
}
