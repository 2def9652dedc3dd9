// `mmconform targets`: the names --target takes, a line each, and for those
// this machine cannot run, why not (and what to run to make it able).

import { parseCommandArgs, type Command } from '../../harness/command.ts';
import { whichSync } from '../../harness/qemu/exec.ts';
import { KNOWN_TARGETS } from '../../harness/targets/index.ts';
import { parseQemuSpec, qemuUnavailable } from '../../harness/targets/qemu.ts';

/** Why a target cannot run on this machine, or null. */
function unavailable(name: string): string | null {
  if (name === 'linux-host') {
    const cc = process.env['CC'] ?? 'cc';
    return whichSync(cc) === undefined ? `no C compiler to build the agent: ${cc} not found` : null;
  }
  if (!name.startsWith('qemu-')) return null;
  // the stable kernel and @current each need their own kernel in the cache
  const why = [name, `${name}@current`].flatMap((spec) => {
    const w = qemuUnavailable(parseQemuSpec(spec));
    return w === undefined ? [] : [[spec, w] as const];
  });
  if (why.length === 2 && why[0]![1] === why[1]![1]) return why[0]![1];
  return why.length ? why.map(([spec, w]) => `${spec}: ${w}`).join('; ') : null;
}

export const targetsCommand: Command = {
  name: 'targets',
  summary: 'list the targets mmconform run can use, and why any cannot run here',
  usage: 'mmconform targets',

  async run(argv, io) {
    parseCommandArgs('targets', argv, { options: {}, strict: true, allowPositionals: false });
    const width = Math.max(...KNOWN_TARGETS.map((t) => t.name.length)) + 2;
    io.stdout(
      KNOWN_TARGETS.map((t) => {
        const why = unavailable(t.name);
        return `${t.name.padEnd(width)}${t.description}${why === null ? '' : ` [cannot run here: ${why}]`}\n`;
      }).join(''),
    );
    return 0;
  },
};
