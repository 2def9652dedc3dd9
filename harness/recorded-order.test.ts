// A recorder's calls resolve in call order, except one that answers while
// an earlier call still waits: that one comes back at once.

import { describe, expect, test } from 'vitest';
import { Answers, unlessBehindAWait } from './recorded-order.ts';

describe('unlessBehindAWait', () => {
  test('behind records already taken, the caller waits for its own record', async () => {
    let recordTaken = false;
    const recorded = Promise.resolve().then(() => ((recordTaken = true), 7));
    expect(await unlessBehindAWait(() => false, Promise.resolve(7), recorded)).toBe(7);
    expect(recordTaken).toBe(true);
  });

  test('behind a call that waits, the result comes back at once', async () => {
    const waiting = new Promise<void>(() => {}); // a store the handler has not resolved
    const recorded = waiting.then(() => 7);
    expect(await unlessBehindAWait(() => true, Promise.resolve(7), recorded)).toBe(7);
  });

  test('a failure behind a call that waits comes back at once too', async () => {
    const waiting = new Promise<void>(() => {});
    const failed = Promise.reject(new Error('agent died'));
    await expect(unlessBehindAWait(() => true, failed, waiting.then(() => 0))).rejects.toThrow('agent died');
  });

  test('Answers: a call is behind a wait only while one made before it has not answered', async () => {
    const answers = new Answers();
    let answer!: () => void;
    const waiting = new Promise<void>((resolve) => (answer = resolve));
    answers.add(Promise.resolve());
    const firstBehind = answers.add(waiting);
    const secondBehind = answers.add(Promise.resolve());
    await Promise.resolve();
    expect(firstBehind()).toBe(false);
    expect(secondBehind()).toBe(true);
    answer();
    await waiting;
    expect(secondBehind()).toBe(false);
  });

  test('calls answered together, in order: the later one, looked at as it answers, is behind nothing', async () => {
    const answers = new Answers();
    let answerBoth!: () => void;
    const both = new Promise<void>((resolve) => (answerBoth = resolve));
    const first = both.then(() => 1);
    const second = both.then(() => 2);
    answers.add(first);
    const behind = answers.add(second);
    let seen: boolean | null = null;
    void second.then(() => (seen = behind()));
    answerBoth();
    await second;
    expect(seen).toBe(false);
  });

  test('Answers.waiting: a call races with one that may wait only when made in a later turn, before that one answered', async () => {
    const answers = new Answers();
    let answer!: () => void;
    const store = new Promise<void>((resolve) => (answer = resolve)); // a store a handler has yet to resolve
    const pagemap = new Promise<void>(() => {}); // a read that never waits on the test, however slow
    answers.add(pagemap, false);
    expect(answers.waiting()).toBe(false);
    answers.add(store, true);
    // sent together (one turn): the stores of a loop, whatever order they answer in
    expect(answers.waiting()).toBe(false);
    answers.add(Promise.resolve(), true);
    await Promise.resolve();
    // a later turn: a handler's call, made while the store waits
    expect(answers.waiting()).toBe(true);
    answer();
    await store;
    expect(answers.waiting()).toBe(false);
  });
});
