// Records the scenarios on Debian's kernels under QEMU, as the fixtures
// harness/scenarios/scenarios.test.ts holds the model to:
//   npx tsx harness/scenarios/record.ts [--kernel trixie-arm64|sid-arm64|trixie-amd64|sid-amd64]...
// Each file starts with a header (the command, the kernel's release and
// architecture, the date) and then the scenario's lines. Progress on stderr.

import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { oneLineMessage } from '../command.ts';
import { qemuTarget } from '../targets/qemu.ts';
import { SCENARIO_KERNELS, SCENARIOS } from './index.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { kernel: { type: 'string', multiple: true } }, strict: true });
  const known = SCENARIO_KERNELS.map((k) => k.kernel as string);
  const wanted = values.kernel ?? known;
  const unknown = wanted.find((k) => !known.includes(k));
  if (unknown) throw new Error(`unknown kernel "${unknown}" (known: ${known.join(', ')})`);
  for (const { kernel, qemu } of SCENARIO_KERNELS.filter((k) => wanted.includes(k.kernel))) {
    process.stderr.write(`== ${kernel} (${qemu})\n`);
    const target = await qemuTarget(qemu);
    try {
      const info = await target.info();
      const day = new Date().toISOString().slice(0, 10);
      const header = [`# recorded by: npx tsx harness/scenarios/record.ts --kernel ${kernel}`, `# kernel ${info.kernel} (${info.arch}), on ${day}`];
      for (const [name, scenario] of Object.entries(SCENARIOS)) {
        const lines = await scenario(target);
        const file = new URL(`../fixtures/scenario-${name}-${kernel}.txt`, import.meta.url);
        await writeFile(file, `${[...header, ...lines].join('\n')}\n`);
        process.stderr.write(`${name}: ${lines.length} lines\n`);
      }
    } finally {
      await target.close();
    }
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`record: ${oneLineMessage(e)}\n`);
    process.exit(2);
  },
);
