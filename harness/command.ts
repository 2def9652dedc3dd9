// What every `mmconform` subcommand shares: its shape in the command table,
// where it writes, and how bad input becomes a one-line error.

import { constants } from 'node:fs';
import { access, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; tests pass their own to capture output in-process. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** colour on stderr (a terminal, NO_COLOR unset); absent: none */
  readonly colourStderr?: boolean;
}

export interface Command {
  readonly name: string;
  /** One line for the command list in `mmconform --help`. */
  readonly summary: string;
  /** The synopsis and option list, without a trailing newline. */
  readonly usage: string;
  /** Resolves to the exit status; throws UsageError (or LayoutError) on bad input. */
  run(argv: readonly string[], io: Io): Promise<number>;
}

/** Bad command-line input: the message is one line, shown after `mmconform: `; exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An error's message on one line: compilers and parsers add code frames below it. */
export function oneLineMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim().replace(/\s*\n\s*/g, ' ');
}

type StrictConfig = ParseArgsConfig & { strict: true; allowPositionals: boolean };

/**
 * node:util parseArgs in strict mode, with its errors turned into a short
 * UsageError: node's own messages run on with advice about `--`.
 */
export function parseCommandArgs<T extends Omit<StrictConfig, 'args'>>(
  command: string,
  argv: readonly string[],
  config: T,
): ReturnType<typeof parseArgs<T & { args: string[] }>> {
  try {
    return parseArgs({ ...config, args: [...argv] });
  } catch (e) {
    if (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS_')) {
      // "--runs -1": node calls the value ambiguous, since it looks like an option
      const ambiguous = /^Option '(-[^']+)' argument is ambiguous/.exec(e.message);
      if (ambiguous) throw new UsageError(`${command}: ${ambiguous[1]}: a value that starts with '-' is given as ${ambiguous[1]}=VALUE`);
      const firstSentence = e.message.split(/\.\s/)[0] ?? e.message;
      throw new UsageError(`${command}: ${firstSentence.charAt(0).toLowerCase()}${firstSentence.slice(1)}`);
    }
    throw e;
  }
}

/**
 * The output files a command was given, checked before it does any work: a
 * name, a directory that exists and can be written to, not a directory
 * itself, not given twice. (A full disk still shows only when written.)
 */
export async function checkOutputFiles(command: string, files: readonly (readonly [option: string, file: string | undefined])[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const [option, file] of files) {
    if (file === undefined) continue;
    if (file === '') throw new UsageError(`${command}: ${option}: an empty file name`);
    const path = resolve(file);
    const other = seen.get(path);
    if (other !== undefined) throw new UsageError(`${command}: ${other} and ${option} name the same file, ${file}`);
    seen.set(path, option);
    const st = await stat(path).catch(() => null);
    if (st?.isDirectory()) throw new UsageError(`${command}: ${option} ${file}: a directory`);
    try {
      await access(st ? path : dirname(path), constants.W_OK);
    } catch (e) {
      throw new UsageError(`${command}: cannot write ${file}: ${oneLineMessage(e)}`);
    }
  }
}

/**
 * Writes a command's output file; failing to is bad input (a path the user
 * gave). A regular file is written whole or not at all (a temporary file
 * beside it, renamed over it), so a full disk never leaves a truncated
 * report that looks complete; a device or pipe is written in place.
 */
export async function writeOutputFile(command: string, file: string, text: string): Promise<void> {
  const st = await stat(file).catch(() => null);
  const temp = st === null || st.isFile() ? join(dirname(file), `.${basename(file)}.${process.pid}.tmp`) : null;
  try {
    if (temp === null) return await writeFile(file, text);
    await writeFile(temp, text);
    await rename(temp, file);
  } catch (e) {
    if (temp !== null) await rm(temp, { force: true }).catch(() => {});
    throw new UsageError(`${command}: cannot write ${file}: ${oneLineMessage(e)}`);
  }
}

/** Writes each output file, every one tried even when one fails; the failures as one UsageError, a line each. */
export async function writeOutputFiles(command: string, outputs: readonly (readonly [file: string | undefined, text: () => string])[]): Promise<void> {
  const failed: string[] = [];
  for (const [file, text] of outputs) {
    if (file === undefined) continue;
    await writeOutputFile(command, file, text()).catch((e: unknown) => failed.push(oneLineMessage(e)));
  }
  if (failed.length) throw new UsageError(failed.join('\nmmconform: '));
}

/** --NAME's whole number of at least `min`, `dflt` when not given; a one-line UsageError for anything else. */
export function parseWhole(command: string, name: string, value: string | undefined, dflt: number, min = 1): number {
  if (value === undefined) return dflt;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) throw new UsageError(`${command}: --${name} takes a whole number of ${min} or more, got "${value}"`);
  return Number(value);
}

/** The most --override-timeout takes: a day */
const MAX_TIMEOUT_SECONDS = 86_400;

/**
 * --override-timeout SEC (run_kselftest.sh's -o): each suite's timeout in
 * place of the tree's settings file's; a one-line Error for anything but
 * whole seconds from 1 to a day.
 */
export function parseTimeoutSeconds(command: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_TIMEOUT_SECONDS)) throw new UsageError(`${command}: --override-timeout ${value}: expected whole seconds from 1 to ${MAX_TIMEOUT_SECONDS}`);
  return n;
}
