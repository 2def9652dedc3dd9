import { expect, test } from 'vitest';
import { colourFor, paintStatuses } from './colour.ts';

test('colour only on a terminal, and never with NO_COLOR set', () => {
  expect(colourFor({ isTTY: true }, {})).toBe(true);
  expect(colourFor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
  expect(colourFor({ isTTY: false }, {})).toBe(false);
  expect(colourFor({}, {})).toBe(false);
});

test('status words painted as what they mean, whole words only, counts of none plain, nothing when off', () => {
  const line = '[1/2] passing: pass (exit=0) in 0.1 s, 2 pass, 1 fail, 0 skip';
  expect(paintStatuses(line, false)).toBe(line);
  expect(paintStatuses(line, true)).toBe('[1/2] passing: \x1b[32mpass\x1b[0m (exit=0) in 0.1 s, 2 \x1b[32mpass\x1b[0m, 1 \x1b[31mfail\x1b[0m, 0 skip');
});
