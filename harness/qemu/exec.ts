// Running the machine's tools (apt, dpkg, compilers): output captured, and
// a failure reported as one line that names the command and its last words.

import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';

export interface ExecOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** stdout of `file args`; rejects with a one-line Error when it cannot start or exits non-zero. */
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
      const why = lastLine(Buffer.concat(err).toString('utf8')) ?? lastLine(Buffer.concat(out).toString('utf8')) ?? '';
      const status = signal !== null ? `killed by ${signal}` : `exit ${code}`;
      reject(new Error(`${file} ${args.slice(0, 3).join(' ')}${args.length > 3 ? ' ...' : ''} failed (${status})${why ? `: ${why}` : ''}`));
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
