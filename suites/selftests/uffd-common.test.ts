import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { Program } from './uffd-common.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('Program', () => {
  test("a call's result is not kept once the caller drops it, while the program runs on", async () => {
    const program = new Program();
    const proc = program.proc({ load: async () => new Uint8Array(1 << 20) });
    let data: Uint8Array | null = await proc.load();
    const ref = new WeakRef(data);
    data = null;
    await turn();
    gc();
    expect(ref.deref()).toBeUndefined();
  });

  test('exit() unwinds a call under way, and later calls get the exit', async () => {
    const program = new Program();
    const proc = program.proc({ wait: () => new Promise<never>(() => {}), now: async () => 1 });
    expect(await proc.now()).toBe(1);
    const waiting = proc.wait();
    program.exit(new Error('exit(1)'));
    await expect(waiting).rejects.toThrow('exit(1)');
    await expect(proc.now()).rejects.toThrow('exit(1)');
  });
});
