import { describe, expect, test } from 'vitest';
import { buildInputs, parseMachine } from './c-selftest.ts';

// The mm Makefile's rules that decide a build, as 7.2 writes them (6.12: thp_settings.c).
const MAKEFILE = [
  'LDLIBS = -lrt -lpthread -lm',
  'TEST_GEN_FILES = cow',
  'TEST_GEN_FILES += pagemap_ioctl',
  'TEST_GEN_FILES += uffd-unit-tests \\',
  '\tmigration',
  '$(TEST_GEN_PROGS): vm_util.c hugepage_settings.c',
  '$(TEST_GEN_FILES): vm_util.c hugepage_settings.c',
  '$(OUTPUT)/uffd-unit-tests: uffd-common.c',
  '$(OUTPUT)/cow: LDLIBS += $(IOURING_EXTRA_LIBS)',
  '$(OUTPUT)/migration: LDLIBS += -lnuma',
].join('\n');

describe('buildInputs: what the mm Makefile links into a test', () => {
  test('the test, then the helpers every test links, with the common LDLIBS', () => {
    expect(buildInputs(MAKEFILE, 'pagemap_ioctl')).toEqual({ sources: ['pagemap_ioctl.c', 'vm_util.c', 'hugepage_settings.c'], ldlibs: ['-lrt', '-lpthread', '-lm'] });
  });
  test("a test's own sources, from a continued list", () => {
    expect(buildInputs(MAKEFILE, 'uffd-unit-tests').sources).toEqual(['uffd-unit-tests.c', 'vm_util.c', 'hugepage_settings.c', 'uffd-common.c']);
  });
  test("a test's own libraries; make variables (liburing's when found) left out", () => {
    expect(buildInputs(MAKEFILE, 'migration').ldlibs).toEqual(['-lrt', '-lpthread', '-lm', '-lnuma']);
    expect(buildInputs(MAKEFILE, 'cow').ldlibs).toEqual(['-lrt', '-lpthread', '-lm']);
  });
  test('a file no list names links only itself', () => {
    expect(buildInputs(MAKEFILE, 'thuge-gen').sources).toEqual(['thuge-gen.c']);
  });
});

describe('parseMachine', () => {
  test('host is this machine', () => {
    expect(parseMachine('host')).toMatchObject({ kind: 'host', label: 'host' });
  });
  test('a kernel is named SUITE-DEBARCH', () => {
    expect(() => parseMachine('bookworm-arm64')).toThrow(/unknown kernel "bookworm-arm64" \(known: host, trixie-arm64, trixie-amd64, sid-arm64, sid-amd64\)/);
    expect(() => parseMachine('qemu-arm64')).toThrow(/unknown kernel/);
  });
});
