// One Debian suite (trixie, sid) seen through apt's own tools with a private
// state directory: its own sources list, package lists and cache, so the
// machine's apt configuration and package state stay untouched, and
// packages are resolved by name from the suite's current metadata.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DebianMirror } from './apt-sources.ts';
import { execTool } from './exec.ts';

/** A package's control stanza: field name (as written) to value. */
export type Stanza = ReadonlyMap<string, string>;

export class SuiteArchive {
  private readonly options: readonly string[];

  /** `root`: a directory this archive owns (the caller removes it); `arches`: Debian architectures to index. */
  constructor(
    root: string,
    readonly suite: string,
    mirror: DebianMirror,
    arches: readonly string[],
  ) {
    const lists = join(root, 'lists');
    const cache = join(root, 'cache');
    const etc = join(root, 'etc');
    for (const d of [join(lists, 'partial'), join(cache, 'archives', 'partial'), join(etc, 'sources.list.d'), join(etc, 'preferences.d')]) {
      mkdirSync(d, { recursive: true });
    }
    const opts = [`arch=${arches.join(',')}`, ...(mirror.signedBy !== undefined ? [`signed-by=${mirror.signedBy}`] : [])];
    writeFileSync(join(etc, 'sources.list'), `deb [${opts.join(' ')}] ${mirror.uri} ${suite} main\n`);
    this.options = [
      `-o`, `Dir::State::Lists=${lists}`,
      `-o`, `Dir::Cache=${cache}`,
      // Each apt-cache call would otherwise parse the suite's lists anew (2 s);
      // the machine's own configuration may switch this cache off.
      `-o`, `Dir::Cache::pkgcache=pkgcache.bin`,
      `-o`, `Dir::Cache::srcpkgcache=`,
      `-o`, `Dir::Etc::SourceList=${join(etc, 'sources.list')}`,
      `-o`, `Dir::Etc::SourceParts=${join(etc, 'sources.list.d')}`,
      `-o`, `Dir::Etc::Preferences=${join(etc, 'preferences')}`,
      `-o`, `Dir::Etc::PreferencesParts=${join(etc, 'preferences.d')}`,
      ...arches.flatMap((a) => ['-o', `APT::Architectures::=${a}`]),
      `-o`, `Acquire::Languages=none`,
      // As root, apt drops to the _apt user to download, which cannot write
      // into our directories; as anyone else it never switches.
      ...(process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : []),
    ];
  }

  /** Fetch the suite's package lists (apt-get update on the private state). */
  async update(): Promise<void> {
    await execTool('apt-get', [...this.options, '-q', 'update']);
  }

  /** The candidate stanza of `pkg` (arch-qualified, e.g. "linux-image-cloud-arm64:arm64"). */
  async show(pkg: string): Promise<Stanza> {
    const text = await execTool('apt-cache', [...this.options, 'show', '--no-all-versions', pkg]).catch((e: Error) => {
      throw new Error(`${this.suite}: no package ${pkg} (${e.message})`);
    });
    return parseStanza(text);
  }

  /** Download packages into `dir` (apt checks each against the suite's hashes). */
  async download(pkgs: readonly string[], dir: string): Promise<void> {
    await execTool('apt-get', [...this.options, '-q', 'download', ...pkgs], { cwd: dir });
  }
}

/** The first stanza of control-file text; continuation lines join with "\n". */
export function parseStanza(text: string): Stanza {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0) break;
      continue;
    }
    if (/^[ \t]/.test(line) && last !== undefined) {
      fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      continue;
    }
    const m = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (m === null) continue;
    last = m[1]!;
    fields.set(last, m[2]!);
  }
  return fields;
}

/** Package names a Depends field mentions, alternatives included, without versions or arch qualifiers. */
export function dependencyNames(depends: string | undefined): string[] {
  if (depends === undefined) return [];
  return depends
    .split(/[,|]/)
    .map((d) => d.trim().split(/[\s(]/)[0]!.replace(/:.*$/, ''))
    .filter((n) => n !== '');
}
