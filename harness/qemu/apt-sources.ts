// Which Debian mirror this machine uses, read from its own apt configuration
// at run time, so the project never names a host: the mirror behind the
// machine's release suite (bookworm, not bookworm-security) serves every
// suite, trixie and sid included.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AptSource {
  readonly types: readonly string[];
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  /** a keyring file, when the entry names one */
  readonly signedBy: string | undefined;
}

export interface DebianMirror {
  /** no trailing slash */
  readonly uri: string;
  readonly signedBy: string | undefined;
}

/** Entries of a deb822 .sources file (sources.list(5)); `Enabled: no` stanzas are dropped. */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^[ \t]/.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):(.*)$/.exec(line);
      if (m === null) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    if (!fields.has('uris') || fields.get('enabled')?.toLowerCase() === 'no') continue;
    const words = (key: string): string[] => (fields.get(key) ?? '').split(/\s+/).filter((w) => w !== '');
    const signedBy = fields.get('signed-by');
    sources.push({
      types: words('types'),
      uris: words('uris'),
      suites: words('suites'),
      // Signed-By may also hold an inline key block; only a path is reusable.
      signedBy: signedBy !== undefined && signedBy.startsWith('/') && !signedBy.includes('\n') ? signedBy : undefined,
    });
  }
  return sources;
}

/** Entries of a one-line-style sources.list: `deb [opt=value ...] URI SUITE [COMPONENT...]`. */
export function parseOneLineSources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m === null) continue;
    const signedBy = /(?:^|\s)signed-by=(\/\S+)/.exec(m[2] ?? '')?.[1];
    sources.push({ types: [m[1]!], uris: [m[3]!], suites: [m[4]!], signedBy });
  }
  return sources;
}

/** The first binary source that serves `codename` itself over http(s). */
export function debianMirror(sources: readonly AptSource[], codename: string): DebianMirror {
  for (const s of sources) {
    if (!s.types.includes('deb') || !s.suites.includes(codename)) continue;
    const uri = s.uris.find((u) => /^https?:\/\//.test(u));
    if (uri !== undefined) return { uri: uri.replace(/\/+$/, ''), signedBy: s.signedBy };
  }
  throw new Error(`no apt source serves ${codename} over http(s) in the machine's apt configuration`);
}

/** Every source in /etc/apt/sources.list and /etc/apt/sources.list.d/ (*.list, *.sources). */
export function machineAptSources(etcApt = '/etc/apt'): AptSource[] {
  const sources: AptSource[] = [];
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  sources.push(...parseOneLineSources(read(join(etcApt, 'sources.list')) ?? ''));
  let parts: string[] = [];
  try {
    parts = readdirSync(join(etcApt, 'sources.list.d')).sort();
  } catch {
    // no sources.list.d: only sources.list counts
  }
  for (const name of parts) {
    const text = read(join(etcApt, 'sources.list.d', name)) ?? '';
    if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
    else if (name.endsWith('.list')) sources.push(...parseOneLineSources(text));
  }
  return sources;
}

/** This machine's release codename (VERSION_CODENAME in os-release). */
export function machineCodename(osRelease = '/etc/os-release'): string {
  const m = /^VERSION_CODENAME="?([a-z]+)"?$/m.exec(readFileSync(osRelease, 'utf8'));
  if (m === null) throw new Error(`${osRelease} names no VERSION_CODENAME: is this Debian?`);
  return m[1]!;
}
