// `mmconform targets`: the names --target takes, a line each.

import { parseCommandArgs, type Command } from '../command.ts';
import { KNOWN_TARGETS } from '../targets/index.ts';

export const targetsCommand: Command = {
  name: 'targets',
  summary: 'list the targets mmconform run can use',
  usage: 'mmconform targets',

  async run(argv, io) {
    parseCommandArgs('targets', argv, { options: {}, strict: true, allowPositionals: false });
    const width = Math.max(...KNOWN_TARGETS.map((t) => t.name.length)) + 2;
    io.stdout(KNOWN_TARGETS.map((t) => `${t.name.padEnd(width)}${t.description}\n`).join(''));
    return 0;
  },
};
