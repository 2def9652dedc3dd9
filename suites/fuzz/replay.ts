// A replay file: one shrunk disagreement, the calls that show it and what
// each side answered, as JSON a later `mmconform fuzz --replay` runs again.

import { DEFAULT_WEIGHTS, type Call } from './calls.ts';

export interface ReplayFile {
  readonly mmconformFuzz: 1;
  readonly target: string;
  readonly against: string;
  readonly seed: number;
  readonly sequence: number;
  readonly calls: readonly Call[];
  /** the first line that differs, as each side wrote it */
  readonly difference: { readonly line: number; readonly target: string | null; readonly against: string | null };
}

// uffdio_api's features are a bigint: JSON carries it as a hex string
export function replayText(r: ReplayFile): string {
  return `${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`;
}

/** every op the fuzzer draws (each has a weight) */
const OPS = new Set<string>(Object.keys(DEFAULT_WEIGHTS));

/** Throws a one-line Error for a file that is not a replay file. */
export function parseReplay(text: string): ReplayFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const r = v as Partial<ReplayFile> | null;
  if (!r || r.mmconformFuzz !== 1 || !Array.isArray(r.calls) || typeof r.target !== 'string' || typeof r.against !== 'string')
    throw new Error('not an mmconform fuzz replay file (mmconformFuzz: 1, target, against, calls)');
  const calls = r.calls.map((c: unknown, i) => {
    const call = c as Record<string, unknown> | null;
    if (!call || typeof call.op !== 'string' || !OPS.has(call.op)) throw new Error(`call ${i}: unknown op ${JSON.stringify(call?.op)}`);
    return (call.op === 'uffdio_api' || call.op === 'uffd_setup' ? { ...call, features: BigInt(String(call.features)) } : call) as unknown as Call;
  });
  return { ...(r as ReplayFile), calls };
}
