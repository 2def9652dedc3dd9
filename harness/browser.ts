// Debian's Chromium, headless, for the tests that open mmconform's HTML
// reports in a real browser: a screenshot, and the DOM as rendered. It runs
// with the flags this machine's closed network needs (no background
// connections, no first-run work) and a fresh profile each time.
// `npm run setup:browser` installs it.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensurePackages } from './apt-packages.ts';
import { execTool } from './qemu/exec.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export const chromiumMissing = (): string | null => (existsSync(CHROMIUM) ? null : `no ${CHROMIUM}: npm run setup:browser installs Debian's chromium`);

async function chromium(args: readonly string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'mmconform-chromium-'));
  try {
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`];
    return await execTool(CHROMIUM, [...flags, ...args]);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A PNG of the page `file` as a window of width x height shows it. */
export async function screenshot(file: string, png: string, width: number, height: number): Promise<void> {
  await chromium([`--window-size=${width},${height}`, `--screenshot=${png}`, pathToFileURL(file).href]);
}

/** The page `file`'s DOM once loaded, as HTML. */
export const renderedDom = (file: string): Promise<string> => chromium(['--dump-dom', pathToFileURL(file).href]);

async function main(): Promise<void> {
  await ensurePackages(['chromium'], (line) => process.stderr.write(`setup:browser: ${line}\n`));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: unknown) => {
    process.stderr.write(`setup:browser: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
