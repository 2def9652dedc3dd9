// Resolves a `--layout` value: a built-in layout name, or a file that
// describes one (JSON, or a TS/JS module whose default export is the object).
// Every failure is a one-line LayoutError that names the file.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { oneLineMessage } from './command.ts';
import { importDefault } from './import-default.ts';
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
  if (MODULE_EXTENSIONS.includes(ext)) return parseLayout(await importDefault(spec, 'the layout object', (why) => new LayoutError(`layout file ${spec}: ${why}`)), spec);
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
