// Resolves a `--layout` value: a built-in layout name, or a file that
// describes one (JSON, or a TS/JS module whose default export is the object).
// Every failure is a one-line LayoutError that names the file.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { oneLineMessage } from './command.ts';
import { BUILTIN_LAYOUTS, LayoutError, builtinLayout, parseLayout, type Layout } from '../model/arm64/layout.ts';

const MODULE_EXTENSIONS = ['.ts', '.js', '.mjs'];
const FILE_EXTENSIONS = ['.json', ...MODULE_EXTENSIONS];

export async function resolveLayout(spec: string): Promise<Layout> {
  const builtin = BUILTIN_LAYOUTS.get(spec);
  if (builtin) return builtin;
  const ext = extname(spec);
  if (!existsSync(spec)) {
    // A bare word like "v6.11" is a mistyped name; a path-like one is a missing file.
    if (!FILE_EXTENSIONS.includes(ext) && !/[\\/]/.test(spec)) return builtinLayout(spec);
    throw new LayoutError(`layout file ${spec} not found`);
  }
  if (ext === '.json') return parseLayout(await readJson(spec), spec);
  if (MODULE_EXTENSIONS.includes(ext)) return parseLayout(await importDefault(spec), spec);
  throw new LayoutError(`layout file ${spec}: expected a ${FILE_EXTENSIONS.join(', ')} file`);
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LayoutError(`layout file ${file}: cannot read: ${oneLineMessage(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LayoutError(`layout file ${file}: invalid JSON: ${oneLineMessage(e)}`);
  }
}

/** How long a layout module's top-level code may take: one that never settles would otherwise end Node silently (exit 13). */
const IMPORT_TIMEOUT_MS = 10_000;

async function importDefault(file: string): Promise<unknown> {
  let mod: { default?: unknown };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LayoutError(`layout file ${file}: its top-level code did not finish in ${IMPORT_TIMEOUT_MS / 1000} s`)), IMPORT_TIMEOUT_MS);
  });
  try {
    mod = (await Promise.race([import(pathToFileURL(resolve(file)).href), stuck])) as { default?: unknown };
  } catch (e) {
    if (e instanceof LayoutError) throw e;
    throw new LayoutError(`layout file ${file}: import failed: ${oneLineMessage(e)}`);
  } finally {
    clearTimeout(timer);
  }
  if (mod.default === undefined) throw new LayoutError(`layout file ${file}: no default export (export default the layout object)`);
  return mod.default;
}
