// `mmconform fuzz`: the differential fuzzer. Generated sequences of
// everyday calls run on a target and on another it is held against, every
// call's outcome compared (suites/fuzz/); or, with no target to hold it
// against, on one target judged by what the features promise
// (suites/fuzz/oracles.ts). KTAP on stdout, a line a sequence; progress on
// stderr. A disagreement is shrunk and written out as a replay file; a
// broken promise is shrunk and shown with the command that runs it again.
// Exit status 0 when no sequence disagreed or broke a promise, 1 when one
// did, 2 on bad input.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { callSequence, type Call } from '../../suites/fuzz/calls.ts';
import { differential, shrink, type Side, type Verdict } from '../../suites/fuzz/differential.ts';
import { ORACLES, shrinkViolation, type Judge, type OracleName } from '../../suites/fuzz/oracles.ts';
import { oracleJudge, runSequence } from '../../suites/fuzz/sequence.ts';
import { differenceText } from '../../harness/calls/compare.ts';
import { KNOWN_DIFFERENCES } from '../../harness/calls/known-differences.ts';
import { parseReplay, replayText, type ReplayFile } from '../../suites/fuzz/replay.ts';
import { matchingSpec } from '../../suites/fuzz/settings.ts';
import { cReproducer } from '../../reports/c-reproducer.ts';
import { UsageError, parseWhole, oneLineMessage, parseCommandArgs, writeOutputFile, type Command, type Io } from '../../harness/command.ts';
import { INTERRUPT_SIGNALS, onInterrupt, type InterruptSignal } from '../../harness/runner.ts';
import type { Target } from '../../harness/target.ts';
import { openTarget } from './select.ts';
import { inShard, parseShard, SHARD_USAGE, type Shard } from '../shard.ts';

const whole = (name: string, v: string | undefined, dflt: number, min = 1): number => parseWhole('fuzz', name, v, dflt, min);

async function openSides(io: Io, a: string, b: string): Promise<{ names: [string, string]; sides: [Side, Side]; targets: Target[] }> {
  const against = await openTarget('fuzz', b);
  const targets: Target[] = [against];
  try {
    // the model runs as the kernel's version, with its THP, swap and hugetlb settings, unless its spec says otherwise
    const name = a.startsWith('reference') ? await matchingSpec(a, against) : a;
    if (name !== a) io.stderr(`fuzz: ${name} (settings read from ${b})\n`);
    const target = await openTarget('fuzz', name);
    targets.unshift(target);
    // the model at other layouts, made as they are asked for
    const layouts = new Map<number, Target>();
    const layout = async (rnd: number): Promise<Target> => {
      const t = layouts.get(rnd) ?? (await openTarget('fuzz', `${name}+mmap_rnd=${rnd}`));
      if (!layouts.has(rnd)) targets.push(t);
      layouts.set(rnd, t);
      return t;
    };
    const sides: [Side, Side] = [
      { target, info: await target.info(), ...(name.startsWith('reference') && !name.includes('+mmap_rnd=') ? { layout } : {}) },
      { target: against, info: await against.info() },
    ];
    return { names: [name, b], sides, targets };
  } catch (e) {
    await Promise.all(targets.map((t) => t.close().catch(() => {})));
    throw e;
  }
}

/** What a disagreement is, without its addresses and sizes: sequences that show the same thing are shrunk once. */
function signature(v: Extract<Verdict, { kind: 'differ' }>): string {
  const mask = (s: string | undefined) => (s ?? '').split('\n')[0]!.replace(/[SM?]\d*\+0x[0-9a-f]+|0x[0-9a-f]+|\d+/g, 'N').slice(0, 60);
  return `${mask(v.a?.call ?? v.b?.call)} = ${mask(v.a?.outcome)} / ${mask(v.b?.outcome)}`;
}

const describe = (v: Verdict) =>
  v.kind === 'agree'
    ? ''
    : v.kind === 'named'
      ? ` # named difference at line ${v.line}: ${v.name}`
      : v.kind === 'noise'
        ? ` # noise at line ${v.line}`
        : v.kind === 'placement'
          ? ` # placement at line ${v.line}: the model agrees at mmap_rnd=${v.layout}`
          : ` # differs at line ${v.line}`;

export const fuzzCommand: Command = {
  name: 'fuzz',
  summary: 'run generated call sequences on two targets and compare every call, the first judged by the oracles too',
  usage: [
    'mmconform fuzz --target A --against B [--runs N | --time S] [--seed N] [--shard i/n] [--max-calls N] [--out DIR] [--min-agreement P]',
    'mmconform fuzz --target A [--runs N | --time S] [--seed N] [--shard i/n] [--max-calls N]   (no --against: judged by the oracles)',
    'mmconform fuzz --replay FILE [--target A] [--against B]',
    '  --target     the target judged (default reference, set up as B runs: THP, swap, hugetlb)',
    '  --against    the target it is held against, usually a real kernel (linux-host, qemu-arm64@current, ...)',
    '  --runs       how many sequences (default 100)',
    '  --time       run sequences for S seconds instead',
    '  --seed       the generator seed (default random; printed on stderr)',
    SHARD_USAGE,
    '                 of the campaign, with the same --seed on every shard (sequence k is drawn with seed + k)',
    '  --max-calls  the longest sequence (default 40)',
    '  --out        where disagreements are written as replay files (default mmconform-fuzz/)',
    '  --replay     run the calls of a replay file again and compare',
    '  --min-agreement  pass when at least P percent of the sequences show no disagreement (default 100)',
    `  named differences (never counted as disagreements): ${KNOWN_DIFFERENCES.map((k) => k.name).join(', ')}`,
    `  oracles, without --against: ${Object.keys(ORACLES).join(', ')}`,
    '  exit status: 0 no disagreement (or at least --min-agreement percent without) and no broken promise,',
    '               1 otherwise, 2 bad input,',
    '               130/143 interrupted (the totals so far are printed)',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('fuzz', argv, {
      options: {
        target: { type: 'string' },
        against: { type: 'string' },
        runs: { type: 'string' },
        time: { type: 'string' },
        seed: { type: 'string' },
        'max-calls': { type: 'string' },
        out: { type: 'string', default: 'mmconform-fuzz' },
        replay: { type: 'string' },
        'min-agreement': { type: 'string' },
        shard: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.runs !== undefined && values.time !== undefined) throw new UsageError('fuzz: give --runs or --time, not both');
    let replay: ReplayFile | null = null;
    if (values.replay !== undefined) {
      const text = await readFile(values.replay, 'utf8').catch((e: unknown) => {
        throw new UsageError(`fuzz: --replay ${values.replay}: ${oneLineMessage(e)}`);
      });
      try {
        replay = parseReplay(text);
      } catch (e) {
        throw new UsageError(`fuzz: --replay ${values.replay}: ${oneLineMessage(e)}`);
      }
    }
    const a = values.target ?? replay?.target ?? 'reference';
    const b = values.against ?? replay?.against;
    const runs = whole('runs', values.runs, 100);
    const seconds = values.time === undefined ? null : whole('time', values.time, 1);
    const maxCalls = whole('max-calls', values['max-calls'], 40);
    const minAgreement = values['min-agreement'] === undefined ? 100 : Number(values['min-agreement']);
    if (!/^\d+(\.\d+)?$/.test(values['min-agreement'] ?? '100') || minAgreement > 100)
      throw new UsageError(`fuzz: --min-agreement takes a percentage from 0 to 100, got "${values['min-agreement']}"`);
    const shard = parseShard('fuzz', values.shard);
    if (shard && values.seed === undefined) throw new UsageError('fuzz: --shard needs --seed, the same on every shard, or the shards draw different campaigns');
    const seed = values.seed === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0 : whole('seed', values.seed, 0, 0);
    if (b === undefined) {
      if (values['min-agreement'] !== undefined) throw new UsageError('fuzz: --min-agreement needs --against: the oracles allow no broken promise');
      return oracleCampaign(io, a, { runs, seconds, seed, shard }, maxCalls);
    }

    const { names, sides, targets } = await openSides(io, a, b);
    try {
      if (replay) {
        const o = await differential(replay.calls, sides);
        io.stdout(`KTAP version 1\n1..1\n`);
        const v = o.verdict;
        if (v.kind === 'differ') for (const l of differenceText(v.a, v.b, names)) io.stdout(`# ${l}\n`);
        io.stdout(`${v.kind === 'differ' ? 'not ok' : 'ok'} 1 ${values.replay}${describe(v)}\n`);
        return v.kind === 'differ' ? 1 : 0;
      }
      const caps = await Promise.all(sides.map((s) => s.target.capabilities()));
      const infos = await Promise.all(sides.map((s) => s.target.info()));
      const offer = { hugetlb: caps.every((c) => c.hugetlb), uffdWp: caps.every((c) => c.uffdWp), sameArch: infos.every((i) => i.arch === infos[0]!.arch) };
      const arb = callSequence(offer, undefined, maxCalls);
      // the target judged by the oracles too, as without --against: a promise it breaks fails the sequence whatever the kernel did
      const oracles = oracleReporter(io, sides[0].target, names[0], await oracleJudge(sides[0].target), seed, maxCalls);
      io.stderr(`fuzz: seed ${seed} (replay: --seed ${seed}); ${names[0]} against ${names[1]}, and judged by the oracles: ${Object.keys(ORACLES).join(', ')}\n`);
      const counts = { agree: 0, named: 0, noise: 0, placement: 0, differ: 0 };
      let broken = 0;
      let failed = 0;
      /** a disagreement already shrunk, by its signature: the replay file written for it */
      const seen = new Map<string, string>();
      const end = await campaign(io, arb, { runs, seconds, seed, shard }, async (seq, n, num) => {
        const o = await differential(seq, sides);
        counts[o.verdict.kind]++;
        const sig = o.verdict.kind === 'differ' ? signature(o.verdict) : '';
        if (o.verdict.kind === 'differ' && seen.has(sig)) io.stdout(`# as ${seen.get(sig)}\n`);
        else if (o.verdict.kind === 'differ') {
          const small = await shrink(seq, sides, o.verdict);
          const v = small.outcome.verdict;
          const line = v.kind === 'differ' ? v.line : o.verdict.line;
          const at = (l: (typeof small.outcome.a)[number] | undefined) => (l ? `${l.call} = ${l.outcome}` : null);
          const file: ReplayFile = {
            mmconformFuzz: 1,
            target: names[0],
            against: names[1],
            seed: seed + n,
            sequence: n,
            calls: small.calls,
            difference: { line, target: at(small.outcome.a[line]), against: at(small.outcome.b[line]) },
          };
          await mkdir(values.out, { recursive: true });
          const path = join(values.out, `fuzz-${seed + n}.json`);
          await writeOutputFile('fuzz', path, replayText(file));
          await writeOutputFile('fuzz', path.replace(/\.json$/, '.c'), cReproducer(file));
          seen.set(sig, path);
          io.stdout(`# ${small.calls.length} calls (from ${seq.length}); replay: mmconform fuzz --replay ${path}; on a kernel: cc ${path.replace(/\.json$/, '.c')}\n`);
          for (const l of small.outcome.a.slice(0, line)) io.stdout(`#   ${l.call} = ${l.outcome.split('\n')[0]}\n`);
          const shown = v.kind === 'differ' ? v : o.verdict;
          for (const l of differenceText(shown.a, shown.b, names)) io.stdout(`# ${l}\n`);
        }
        const broke = await oracles(seq, n);
        if (broke.length) broken++;
        if (broke.length || o.verdict.kind === 'differ') failed++;
        const why = broke.length ? ` # broke ${broke.join(', ')}` : '';
        io.stdout(`${o.verdict.kind === 'differ' || broke.length ? 'not ok' : 'ok'} ${num} sequence ${n} (seed ${seed + n}, ${seq.length} calls)${describe(o.verdict)}${why}\n`);
        if (num % 50 === 0) io.stderr(`fuzz: ${num} sequences, ${counts.differ} disagree, ${broken} broke a promise\n`);
      });
      const { n } = end;
      const agreement = n ? (100 * (n - counts.differ)) / n : 100;
      io.stdout(`# agree ${counts.agree}, named ${counts.named}, noise ${counts.noise}, placement ${counts.placement}, disagree ${counts.differ} of ${n}: ${agreement.toFixed(1)}% without a disagreement; ${broken} broke a promise\n`);
      return campaignExit(io, end, seed, failed, 'disagree or broke a promise', agreement >= minAgreement && broken === 0 ? 0 : 1);
    } finally {
      for (const [i, t] of targets.entries()) await t.close().catch((e: unknown) => io.stderr(`mmconform: closing ${names[i]}: ${oneLineMessage(e)}\n`));
    }
  },
};

/**
 * Sequences on one target, judged by the oracles: each broken promise
 * shrunk once per oracle, the calls that show it and the command that runs
 * the sequence again printed. Exit status 0 when none broke one.
 */
async function oracleCampaign(io: Io, name: string, plan: CampaignPlan, maxCalls: number): Promise<number> {
  const { seed } = plan;
  const target = await openTarget('fuzz', name);
  try {
    const caps = await target.capabilities();
    const info = await target.info();
    const judge = await oracleJudge(target);
    // focused: judged by promises alone, a sequence must make its calls meet on the same pages to show much
    const arb = callSequence({ hugetlb: caps.hugetlb, uffdWp: caps.uffdWp, sameArch: true }, undefined, maxCalls, true);
    io.stderr(`fuzz: seed ${seed} (replay: --seed ${seed}); ${name} (${info.arch}) judged by the oracles: ${Object.keys(ORACLES).join(', ')}\n`);
    let broken = 0;
    const oracles = oracleReporter(io, target, name, judge, seed, maxCalls);
    const end = await campaign(io, arb, plan, async (seq, n, num) => {
      const broke = await oracles(seq, n);
      if (broke.length) broken++;
      const why = broke.length ? ` # ${broke.join(', ')}` : '';
      io.stdout(`${broke.length ? 'not ok' : 'ok'} ${num} sequence ${n} (seed ${seed + n}, ${seq.length} calls)${why}\n`);
      if (num % 50 === 0) io.stderr(`fuzz: ${num} sequences, ${broken} broke a promise\n`);
    });
    return campaignExit(io, end, seed, broken, 'broke a promise', broken ? 1 : 0);
  } finally {
    await target.close().catch((e: unknown) => io.stderr(`mmconform: closing ${name}: ${oneLineMessage(e)}\n`));
  }
}

/**
 * Judges a sequence by the oracles on `target`: the promises it broke, by
 * name. The first sequence to break each promise is shrunk and shown with
 * its calls and the command that runs it again.
 */
function oracleReporter(io: Io, target: Target, name: string, judge: Judge, seed: number, maxCalls: number): (seq: Call[], n: number) => Promise<OracleName[]> {
  const shrunk = new Set<string>();
  return async (seq, n) => {
    const violations = await judge(seq);
    const first = violations[0];
    if (first && !shrunk.has(first.oracle)) {
      shrunk.add(first.oracle);
      const small = await shrinkViolation(seq, judge, first.oracle);
      io.stdout(`# ${first.oracle}: ${ORACLES[first.oracle]}\n`);
      io.stdout(`# ${small.calls.length} calls (from ${seq.length}); again: mmconform fuzz --target ${name} --seed ${seed + n} --runs 1 --max-calls ${maxCalls}\n`);
      // the log but the closing dump, which starts at its last smaps read
      const log = await runSequence(target, small.calls);
      const dump = log.map((l) => l.call).lastIndexOf('read("/proc/self/smaps")');
      for (const l of log.slice(0, dump < 0 ? log.length : dump)) io.stdout(`#   ${l.call} = ${l.outcome.split('\n')[0]}\n`);
      io.stdout(`# broken after call ${small.violation.call}: ${small.violation.detail}\n`);
    }
    return [...new Set(violations.map((v) => v.oracle))];
  };
}

/** How a campaign ended: sequences run, calls made, seconds taken, and the signal that stopped it. */
interface CampaignEnd {
  readonly n: number;
  readonly calls: number;
  readonly secs: number;
  readonly interrupted: InterruptSignal | null;
}

/** Which sequences a campaign runs: sequence k drawn with seed + k, k < runs (or until `seconds` passed), those of the shard. */
interface CampaignPlan {
  readonly runs: number;
  readonly seconds: number | null;
  readonly seed: number;
  readonly shard: Shard | null;
}

/**
 * The loop both kinds of campaign share: sequence k drawn with seed + k,
 * until `runs` ran or `seconds` passed, those of the shard only, KTAP's
 * plan around them; `each` gets the sequence, k and its KTAP number. An
 * interrupt (SIGPIPE: stdout closed) ends it after the sequence at hand.
 */
async function campaign(io: Io, arb: fc.Arbitrary<Call[]>, plan: CampaignPlan, each: (seq: Call[], k: number, num: number) => Promise<void>): Promise<CampaignEnd> {
  const { runs, seconds, seed, shard } = plan;
  const started = Date.now();
  const deadline = seconds === null ? Infinity : started + seconds * 1000;
  const total = seconds === null ? runs : Infinity;
  const planned = shard === null ? runs : Math.max(0, Math.ceil((runs - shard.index + 1) / shard.count));
  io.stdout(seconds === null ? `KTAP version 1\n1..${planned}\n` : 'KTAP version 1\n');
  if (shard) io.stderr(`fuzz: shard ${shard.index}/${shard.count}: sequences ${shard.index - 1}, ${shard.index - 1 + shard.count}, ...${seconds === null ? ` (${planned} of ${runs})` : ''}\n`);
  let calls = 0;
  let n = 0;
  let interrupted: InterruptSignal | null = null;
  const stopListening = onInterrupt((signal) => void (interrupted ??= signal));
  try {
    for (let k = 0; k < total && Date.now() < deadline && interrupted === null; k++) {
      if (!inShard(shard, k)) continue;
      // a model answers without I/O: give the signal handlers their turn
      await new Promise((resolve) => setImmediate(resolve));
      const [seq] = fc.sample(arb, { seed: seed + k, numRuns: 1 }) as [Call[]];
      calls += seq.length;
      n++;
      await each(seq, k, n);
    }
  } finally {
    stopListening();
  }
  if (seconds !== null) io.stdout(`1..${n}\n`);
  return { n, calls, secs: (Date.now() - started) / 1000, interrupted };
}

/** A campaign's totals (KTAP on stdout, the rate on stderr) and its exit status: 128+N when signal N stopped it, else `status`. */
function campaignExit(io: Io, end: CampaignEnd, seed: number, failed: number, what: string, status: number): number {
  const { n, calls, secs } = end;
  io.stdout(`# Totals: pass:${n - failed} fail:${failed} xfail:0 xpass:0 skip:0 error:0\n`);
  io.stderr(`fuzz: ${n} sequences, ${calls} calls in ${secs.toFixed(1)} s (${(n / secs).toFixed(1)} sequences/s); ${failed} ${what}; seed ${seed}\n`);
  if (end.interrupted === null) return status;
  io.stderr(`fuzz: interrupted by ${end.interrupted} after ${n} sequences\n`);
  return 128 + INTERRUPT_SIGNALS[end.interrupted];
}
