// What every `mmconform` subcommand shares: its shape in the command table,
// where it writes, and how bad input becomes a one-line error.

import { writeFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; tests pass their own to capture output in-process. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
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

type StrictConfig = ParseArgsConfig & { strict: true; allowPositionals: false };

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
      const firstSentence = e.message.split(/\.\s/)[0] ?? e.message;
      throw new UsageError(`${command}: ${firstSentence.charAt(0).toLowerCase()}${firstSentence.slice(1)}`);
    }
    throw e;
  }
}

/** Writes a command's output file; failing to is bad input (a path the user gave). */
export async function writeOutputFile(command: string, file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch (e) {
    throw new UsageError(`${command}: cannot write ${file}: ${oneLineMessage(e)}`);
  }
}
