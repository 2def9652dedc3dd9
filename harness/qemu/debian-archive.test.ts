import { describe, expect, test } from 'vitest';
import { dependencyNames, parseStanza } from './debian-archive.ts';

// Abridged from `apt-cache show linux-image-cloud-arm64:arm64` on sid.
const STANZA = `Package: linux-image-cloud-arm64
Source: linux-signed-arm64 (7.2.13+1)
Version: 7.2.13-1
Architecture: arm64
Depends: linux-base-cloud-arm64 (= 7.2.13-1), linux-image-7.2.13+deb14-cloud-arm64 (= 7.2.13-1)
Description: Linux for arm64 cloud (meta-package)
 This package depends on the latest Linux kernel
 for cloud platforms.
SHA256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae

Package: linux-image-cloud-arm64
Version: 6.12.117-1
`;

describe('parseStanza', () => {
  test('reads the first stanza, continuation lines folded in', () => {
    const s = parseStanza(STANZA);
    expect(s.get('Version')).toBe('7.2.13-1');
    expect(s.get('SHA256')).toBe('2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae');
    expect(s.get('Description')).toBe('Linux for arm64 cloud (meta-package)\nThis package depends on the latest Linux kernel\nfor cloud platforms.');
  });
});

describe('dependencyNames', () => {
  test('lists every package named, versions and arch qualifiers dropped, alternatives kept', () => {
    expect(dependencyNames(parseStanza(STANZA).get('Depends'))).toEqual(['linux-base-cloud-arm64', 'linux-image-7.2.13+deb14-cloud-arm64']);
    expect(dependencyNames('dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, kmod:any')).toEqual([
      'dracut',
      'initramfs-tools',
      'linux-initramfs-tool',
      'kmod',
    ]);
    expect(dependencyNames(undefined)).toEqual([]);
  });
});
