// Running the machine's tools (apt, dpkg, compilers): output captured, and
// a failure reported as one line that names the command and its last words.

import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';

export interface ExecOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** on failure, quote the first line of its output that matches (default: the last line) */
  readonly why?: RegExp;
}

/** A tool that ran and failed: the message names the command; `why` is its own words. */
export class ToolFailed extends Error {
  constructor(
    message: string,
    readonly why: string,
  ) {
    super(message);
  }
}

/** stdout of `file args`; rejects with a one-line Error (a ToolFailed once it ran) when it cannot start or exits non-zero. */
export function execTool(file: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new Error(e.code === 'ENOENT' ? `${file} not found` : `${file}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const stderr = Buffer.concat(err).toString('utf8');
      const stdout = Buffer.concat(out).toString('utf8');
      const why = (options.why && firstMatch(`${stderr}\n${stdout}`, options.why)) ?? lastLine(stderr) ?? lastLine(stdout) ?? '';
      const status = signal !== null ? `killed by ${signal}` : `exit ${code}`;
      reject(new ToolFailed(`${file} ${args.slice(0, 3).join(' ')}${args.length > 3 ? ' ...' : ''} failed (${status})${why ? `: ${why}` : ''}`, why));
    });
  });
}

/** The last non-empty line of a tool's output, trimmed. */
function lastLine(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
}

function firstMatch(text: string, pattern: RegExp): string | undefined {
  return text
    .split('\n')
    .find((l) => pattern.test(l))
    ?.trim();
}

/** Where `name` would run from, searching PATH; undefined when it is not installed. */
export function whichSync(name: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(':')) {
    if (dir === '') continue;
    const candidate = `${dir}/${name}`;
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
