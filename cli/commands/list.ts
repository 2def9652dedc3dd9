// `mmconform list`: every ported suite, its C source, and the result names
// a complete run prints (the suites' own lists, checked against runs).

import { SUITES } from '../../suites/index.ts';
import { parseCommandArgs, type Command } from '../../harness/command.ts';

export const listCommand: Command = {
  name: 'list',
  summary: 'list the ported selftests and the results each prints',
  usage: 'mmconform list',

  async run(argv, io) {
    parseCommandArgs('list', argv, { options: {}, strict: true, allowPositionals: false });
    io.stdout(SUITES.map((s) => [`${s.name} (${s.source})`, ...s.tests.map((t) => `  ${t}`)].join('\n')).join('\n\n') + '\n');
    return 0;
  },
};
