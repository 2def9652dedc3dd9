import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { debianMirror, machineAptSources, machineCodename, parseDeb822Sources, parseOneLineSources } from './apt-sources.ts';

// The shape of a stock Debian 12 image's /etc/apt/sources.list.d/debian.sources.
const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('parseDeb822Sources', () => {
  test('reads each stanza, comments skipped', () => {
    expect(parseDeb822Sources(DEB822)).toEqual([
      { types: ['deb'], uris: ['http://mirror.example/debian'], suites: ['bookworm', 'bookworm-updates'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
      { types: ['deb'], uris: ['http://mirror.example/debian-security'], suites: ['bookworm-security'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
    ]);
  });

  test('drops disabled stanzas; keeps an inline key out of signedBy; folds continuation lines', () => {
    const text = `Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

types: deb deb-src
uris: http://a.example/debian
  http://b.example/debian
suites: bookworm
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
`;
    expect(parseDeb822Sources(text)).toEqual([
      { types: ['deb', 'deb-src'], uris: ['http://a.example/debian', 'http://b.example/debian'], suites: ['bookworm'], signedBy: undefined },
    ]);
  });
});

describe('parseOneLineSources', () => {
  test('reads deb and deb-src lines with options; skips comments and blanks', () => {
    const text = `# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/d.gpg] http://mirror.example/debian/ bookworm main contrib

deb-src http://mirror.example/debian bookworm main # trailing comment
deb http://security.example/debian-security bookworm-security main
`;
    expect(parseOneLineSources(text)).toEqual([
      { types: ['deb'], uris: ['http://mirror.example/debian/'], suites: ['bookworm'], signedBy: '/etc/apt/keyrings/d.gpg' },
      { types: ['deb-src'], uris: ['http://mirror.example/debian'], suites: ['bookworm'], signedBy: undefined },
      { types: ['deb'], uris: ['http://security.example/debian-security'], suites: ['bookworm-security'], signedBy: undefined },
    ]);
  });
});

describe('debianMirror', () => {
  test('is the source of the release suite itself, not its security archive', () => {
    const sources = [...parseDeb822Sources(DEB822).reverse()];
    expect(debianMirror(sources, 'bookworm')).toEqual({ uri: 'http://mirror.example/debian', signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' });
  });

  test('skips deb-src, third-party suites and non-http URIs; drops the trailing slash', () => {
    const sources = parseOneLineSources(`deb-src http://src.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/nodesource.gpg] https://deb.nodesource.example/node_20.x nodistro main
deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb https://mirror.example/debian/ bookworm main
`);
    expect(debianMirror(sources, 'bookworm')).toEqual({ uri: 'https://mirror.example/debian', signedBy: undefined });
  });

  test('says so when no source serves the release', () => {
    expect(() => debianMirror(parseDeb822Sources(DEB822), 'trixie')).toThrow('no apt source serves trixie over http(s)');
  });
});

describe('the machine configuration', () => {
  const root = mkdtempSync(join(tmpdir(), 'mmconform-apt-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('is sources.list, then sources.list.d/*.list and *.sources in name order', () => {
    mkdirSync(join(root, 'sources.list.d'));
    writeFileSync(join(root, 'sources.list'), 'deb http://one.example/debian bookworm main\n');
    writeFileSync(join(root, 'sources.list.d', 'b.sources'), 'Types: deb\nURIs: http://three.example/debian\nSuites: bookworm\n');
    writeFileSync(join(root, 'sources.list.d', 'a.list'), 'deb http://two.example/debian bookworm main\n');
    writeFileSync(join(root, 'sources.list.d', 'c.list.disabled'), 'deb http://never.example/debian bookworm main\n');
    expect(machineAptSources(root).map((s) => s.uris[0])).toEqual(['http://one.example/debian', 'http://two.example/debian', 'http://three.example/debian']);
  });

  test('codename comes from os-release', () => {
    writeFileSync(join(root, 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n');
    expect(machineCodename(join(root, 'os-release'))).toBe('bookworm');
  });
});
