// A recorder's calls resolve in call order, except one that answers while
// an earlier call still waits: that one comes back at once.

import { describe, expect, test } from 'vitest';
import { Answers, unlessBehindAWait } from './recorded-order.ts';

describe('unlessBehindAWait', () => {
  test('behind records already taken, the caller waits for its own record', async () => {
    let blocked = false;
    let recordTaken = false;
    const recorded = Promise.resolve().then(() => ((recordTaken = true), 7));
    expect(await unlessBehindAWait(Promise.resolve(), Promise.resolve(7), recorded, () => (blocked = true))).toBe(7);
    expect(recordTaken).toBe(true);
    expect(blocked).toBe(false);
  });

  test('behind a call that waits, the result comes back at once and the recorder is told', async () => {
    let blocked = false;
    const waiting = new Promise<void>(() => {}); // a store the handler has not resolved
    const recorded = waiting.then(() => 7);
    expect(await unlessBehindAWait(waiting, Promise.resolve(7), recorded, () => (blocked = true))).toBe(7);
    expect(blocked).toBe(true);
  });

  test('a failure behind a call that waits comes back at once too', async () => {
    const waiting = new Promise<void>(() => {});
    const failed = Promise.reject(new Error('agent died'));
    await expect(unlessBehindAWait(waiting, failed, waiting.then(() => 0), () => {})).rejects.toThrow('agent died');
  });

  test('Answers: a call is behind a wait only while one made before it has not answered', async () => {
    const answers = new Answers();
    let answer!: () => void;
    const waiting = new Promise<void>((resolve) => (answer = resolve));
    answers.add(Promise.resolve());
    const behindNothing = answers.add(waiting);
    const behindTheWait = answers.add(Promise.resolve());
    let settled = false;
    void behindTheWait.then(() => (settled = true));
    await behindNothing;
    await Promise.resolve();
    expect(settled).toBe(false);
    answer();
    await behindTheWait;
  });
});
