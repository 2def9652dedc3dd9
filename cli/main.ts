// The `mmconform` command: a table of subcommands, each in its own module
// under commands/. Bad input of any kind ends as one line on stderr and exit
// status 2; this is the only place that catches.

import { readFileSync } from 'node:fs';
import { LayoutError } from '../model/arm64/layout.ts';
import { colourFor } from '../harness/colour.ts';
import { UsageError, oneLineMessage, type Command, type Io } from '../harness/command.ts';
import { compareCommand } from './commands/compare.ts';
import { coverageCommand } from './commands/coverage.ts';
import { fuzzCommand } from './commands/fuzz.ts';
import { layoutCommand } from './commands/layout.ts';
import { listCommand } from './commands/list.ts';
import { mutantsCommand } from './commands/mutants.ts';
import { reportCommand } from './commands/report.ts';
import { runCommand } from './commands/run.ts';
import { targetsCommand } from './commands/targets.ts';

const COMMANDS: readonly Command[] = [layoutCommand, runCommand, compareCommand, fuzzCommand, mutantsCommand, coverageCommand, reportCommand, listCommand, targetsCommand];

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  colourStderr: colourFor(process.stderr),
};

function usage(): string {
  const entries: [string, string][] = [...COMMANDS.map((c): [string, string] => [c.name, c.summary]), ['help', 'show this text']];
  const width = Math.max(...entries.map(([name]) => name.length)) + 2;
  return [
    'usage: mmconform <command> [options]   (mmconform --version: the version)',
    '',
    'commands:',
    ...entries.map(([name, summary]) => `  ${name.padEnd(width)}${summary}`),
    ...COMMANDS.map((c) => `\n${c.usage}`),
  ].join('\n');
}

/** The package's version, from its package.json. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(pkg.version);
}

const isHelp = (arg: string) => arg === '--help' || arg === '-h';

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  // `help CMD` and `CMD --help` show that command's usage; `help` and `--help` all of them
  const helpFor = name === 'help' ? rest[0] : name !== undefined && !isHelp(name) && rest.some(isHelp) ? name : undefined;
  if (helpFor !== undefined) {
    const command = COMMANDS.find((c) => c.name === helpFor);
    if (!command) {
      io.stderr(`mmconform: unknown command "${helpFor}" (see mmconform --help)\n`);
      return 2;
    }
    io.stdout(`usage: ${command.usage}\n`);
    return 0;
  }
  if (name === 'help' || (name !== undefined && isHelp(name))) {
    io.stdout(`${usage()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout(`mmconform ${version()}\n`);
    return 0;
  }
  try {
    if (name === undefined) throw new UsageError('no command given (see mmconform --help)');
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (see mmconform --help)`);
    return await command.run(rest, io);
  } catch (e) {
    // Expected errors carry a message meant for the user; anything else is our bug.
    const expected = e instanceof UsageError || e instanceof LayoutError;
    io.stderr(`mmconform: ${expected ? '' : 'internal error: '}${oneLineMessage(e)}\n`);
    return 2;
  }
}
