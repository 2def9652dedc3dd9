// The JSON formats mmconform writes, held to the JSON Schemas shipped in
// reports/schemas/: run --json, and compare --format json with every part.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { expect, test } from 'vitest';
import { mmconform } from '../cli/testing.ts';

const schema = async (name: string): Promise<object> => JSON.parse(await readFile(new URL(`./schemas/${name}`, import.meta.url), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addSchema(await schema('results.schema.json'));
ajv.addSchema(await schema('compare.schema.json'));
const errors = (id: string, doc: unknown): string => {
  const validate = ajv.getSchema(id)!;
  return validate(doc) ? '' : ajv.errorsText(validate.errors);
};

test('run --json: a complete run, and one a suite of which failed, each as results.schema.json says', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mmconform-schema-'));
  try {
    for (const target of ['reference:rfc', 'reference+thp=never']) {
      const file = join(dir, 'r.json');
      await mmconform('run', '--target', target, '--suite', 'madv_populate', '--suite', 'soft-dirty', '--json', file);
      expect(errors('mmconform/results.schema.json', JSON.parse(await readFile(file, 'utf8'))), target).toBe('');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);

test('compare --format json with --descriptors and --calls: as compare.schema.json says', async () => {
  const { stdout } = await mmconform('compare', '--targets', 'reference@6.12,reference@7.2,reference:rfc', '--suite', 'pte-states', '--descriptors', '--calls', '--format', 'json');
  const doc = JSON.parse(stdout) as { descriptors: { kinds: unknown[] }[]; calls: { differences: unknown[] }[] };
  // every part present and filled, so the schema is held to something
  expect(doc.descriptors.every((d) => d.kinds.length > 0)).toBe(true);
  expect(doc.calls.some((c) => c.differences.length > 0)).toBe(true);
  expect(errors('mmconform/compare.schema.json', doc)).toBe('');
}, 120_000);

test('the schemas catch a wrong document: a status no run gives', async () => {
  const { stdout } = await mmconform('compare', '--targets', 'reference,reference', '--suite', 'regressions-uffd-wp', '--format', 'json');
  const doc = JSON.parse(stdout) as { rows: { status: Record<string, string> }[] };
  doc.rows[0]!.status['reference'] = 'maybe';
  expect(errors('mmconform/compare.schema.json', doc)).toMatch(/must be equal to one of the allowed values/);
});
