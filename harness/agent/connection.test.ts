// The JSON-lines connection against fake streams: what it sends, how
// replies find their calls, and how every way an agent can go wrong (silent,
// gone, out of step) ends in one-line Errors rather than a hang or a crash.

import { Duplex } from 'node:stream';
import { describe, expect, test, vi } from 'vitest';
import { AgentConnection, ParkedRequests } from './connection.ts';

/** A stream whose other end is the test: it sees each request line and pushes replies. */
function fakeAgent(): { stream: Duplex; sent: string[]; reply: (text: string) => void; end: () => void } {
  const sent: string[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      sent.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, sent, reply: (text) => stream.push(text), end: () => stream.push(null) };
}

/** Lets the connection write what this turn's calls made (it writes them together once the turn ends). */
const turnEnds = (): Promise<void> => Promise.resolve();

const idOf = (line: string | undefined): number => (JSON.parse(line ?? '{}') as { id: number }).id;

describe('requests and replies', () => {
  test('a request is one JSON line with a fresh id; its reply resolves it', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const call = conn.request('mmap', { proc: 7, addr: '0x0' });
    await turnEnds();
    expect(JSON.parse(agent.sent[0] ?? '')).toEqual({ id: 1, op: 'mmap', proc: 7, addr: '0x0' });
    agent.reply('{"id":1,"ok":true,"addr":"0x7f0000000000"}\n');
    await expect(call).resolves.toEqual({ id: 1, ok: true, addr: '0x7f0000000000' });
    conn.close();
  });

  test('replies find their calls by id, in any order, split across chunks or several to a chunk', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const calls = [conn.request('write'), conn.request('hello'), conn.request('read')];
    await turnEnds();
    const [a, b, c] = agent.sent.map(idOf);
    agent.reply(`{"id":${b},"ok":true,"rel`);
    agent.reply(`ease":"6.18"}\n{"id":${c},"ok":true,"data":"00"}\n{"id":${a},`);
    agent.reply('"ok":true}\n');
    expect(await Promise.all(calls)).toEqual([
      { id: a, ok: true },
      { id: b, ok: true, release: '6.18' },
      { id: c, ok: true, data: '00' },
    ]);
    conn.close();
  });

  test('an errno reply resolves (the Proc turns it into an Errno); an error reply rejects only its own call', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const failing = conn.request('munmap');
    const bad = conn.request('mmap');
    await turnEnds();
    const [a, b] = agent.sent.map(idOf);
    agent.reply(`{"id":${a},"ok":false,"errno":"EINVAL","call":"munmap"}\n{"id":${b},"error":"missing field \\"addr\\""}\n`);
    await expect(failing).resolves.toEqual({ id: a, ok: false, errno: 'EINVAL', call: 'munmap' });
    await expect(bad).rejects.toThrow('agent: mmap: missing field "addr"');
    const later = conn.request('hello');
    await turnEnds();
    agent.reply(`{"id":${idOf(agent.sent[2])},"ok":true}\n`);
    await expect(later).resolves.toMatchObject({ ok: true });
    expect(conn.failed).toBeNull();
    conn.close();
  });

  test('a reply without "ok" rejects its call', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const call = conn.request('hello');
    await turnEnds();
    agent.reply(`{"id":${idOf(agent.sent[0])},"release":"6.18"}\n`);
    await expect(call).rejects.toThrow('agent: hello: reply without "ok"');
    conn.close();
  });
});

describe('readNow: replies read while the caller waits, not in the event loop', () => {
  test('calls sent together go out before the connection reads, and each reply resolves its call', async () => {
    const agent = fakeAgent();
    const queued = ['{"id":1,"ok":true}\n{"id":2,', '"ok":true,"data":"00"}\n'];
    let reads = 0;
    let sentAtFirstRead: number[] = [];
    const conn = new AgentConnection(agent.stream, {
      readNow: () => {
        if (reads++ === 0) sentAtFirstRead = agent.sent.map(idOf);
        const next = queued.shift();
        return next === undefined ? null : Buffer.from(next);
      },
    });
    const calls = [conn.request('hello'), conn.request('read')];
    expect(agent.sent).toEqual([]); // written together once this turn ends
    expect(await Promise.all(calls)).toEqual([
      { id: 1, ok: true },
      { id: 2, ok: true, data: '00' },
    ]);
    // both requests were out before the first direct read
    expect(sentAtFirstRead).toEqual([1, 2]);
    expect(reads).toBe(2);
    conn.close();
  });

  test('a call still waiting (a parked poll) holds no later one: the spin stops once the replies to those just sent are in', async () => {
    const agent = fakeAgent();
    const queued: string[] = [];
    let reads = 0;
    const conn = new AgentConnection(agent.stream, {
      readNow: () => {
        reads++;
        const next = queued.shift();
        return next === undefined ? null : Buffer.from(next);
      },
    });
    const parked = conn.request('poll');
    await turnEnds();
    queued.push('{"id":2,"ok":true}\n');
    reads = 0;
    await expect(conn.request('pagemap')).resolves.toEqual({ id: 2, ok: true });
    expect(reads).toBe(1); // its reply was the first read: no spinning on for the poll
    agent.reply('{"id":1,"ok":true,"revents":[1]}\n');
    await expect(parked).resolves.toMatchObject({ id: 1 });
    conn.close();
  });

  test("while a request parks on one connection, a request on another does not spin: the parked one's reply may come first", async () => {
    const parked = new ParkedRequests();
    const handler = fakeAgent();
    const child = fakeAgent();
    const handlerConn = new AgentConnection(handler.stream, { parked, readNow: () => null });
    let reads = 0;
    const childConn = new AgentConnection(child.stream, { parked, readNow: () => (reads++, null) });
    const poll = handlerConn.request('poll', {}, true);
    await turnEnds();
    expect(parked.count).toBe(1);
    // a load that waits in a fault until the handler's poll has been answered and acted on
    const load = childConn.request('read');
    await turnEnds();
    expect(reads).toBe(0);
    handler.reply('{"id":1,"ok":true,"revents":[1]}\n');
    await expect(poll).resolves.toMatchObject({ id: 1 });
    expect(parked.count).toBe(0);
    child.reply('{"id":1,"ok":true,"data":""}\n');
    await expect(load).resolves.toMatchObject({ id: 1 });
    handlerConn.close();
    childConn.close();
  });

  test('a reply slower than the spin still arrives through the stream', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream, { readNow: () => null });
    const call = conn.request('hello');
    setTimeout(() => agent.reply('{"id":1,"ok":true}\n'), 20);
    await expect(call).resolves.toEqual({ id: 1, ok: true });
    conn.close();
  });
});

describe('a broken agent fails the connection: every pending and later call rejects with one line', () => {
  test('silent: the call times out, and the connection with it', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream, { timeoutMs: 50 });
    const start = performance.now();
    const first = conn.request('mmap');
    const second = conn.request('pagemap');
    await expect(first).rejects.toThrow(/^agent: no reply to mmap in 0\.05 s; the agent is not used again$/);
    await expect(second).rejects.toThrow('no reply to mmap');
    expect(performance.now() - start).toBeLessThan(2000);
    await expect(conn.request('hello')).rejects.toThrow('no reply to mmap');
    expect(conn.failed?.message).toContain('no reply to mmap');
  });

  test('the timeout runs from each request\'s own send: one answered in time leaves the next its full wait', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream, { timeoutMs: 80 });
    const start = performance.now();
    const first = conn.request('hello');
    await turnEnds();
    agent.reply(`{"id":${idOf(agent.sent[0])},"ok":true}\n`);
    await first;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = conn.request('mmap');
    await expect(second).rejects.toThrow('no reply to mmap');
    // 50 ms in before it was sent, then its own 80
    expect(performance.now() - start).toBeGreaterThanOrEqual(125);
  });

  test('with nothing pending, a connection holds no timer (it would keep the process alive)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const agent = fakeAgent();
      const conn = new AgentConnection(agent.stream);
      const call = conn.request('hello');
      await turnEnds();
      expect(vi.getTimerCount()).toBe(1);
      agent.reply(`{"id":${idOf(agent.sent[0])},"ok":true}\n`);
      await call;
      expect(vi.getTimerCount()).toBe(0);
      conn.close();
    } finally {
      vi.useRealTimers();
    }
  });

  test('closed: the stream ends with calls pending, and the owner says why', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream, { describeEnd: () => 'the agent was killed by SIGKILL\n; stderr: oops' });
    const pending = conn.request('write');
    agent.end();
    await expect(pending).rejects.toThrow(/^agent: connection closed: the agent was killed by SIGKILL ; stderr: oops$/);
    await expect(conn.request('hello')).rejects.toThrow('connection closed');
  });

  test('a proc killed by a signal: its call fails with what the owner knows of the kill', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream, { describeKill: (pid) => (pid === 133 ? 'kernel log: Out of memory: Killed process 133 (init)' : undefined) });
    const killed = conn.request('read');
    const other = conn.request('read');
    await turnEnds();
    agent.reply(`{"id":${idOf(agent.sent[0])},"error":"proc 133 was killed by SIGKILL"}\n`);
    agent.reply(`{"id":${idOf(agent.sent[1])},"error":"proc 134 was killed by SIGSEGV"}\n`);
    await expect(killed).rejects.toThrow(/^agent: read: proc 133 was killed by SIGKILL; kernel log: Out of memory: Killed process 133 \(init\)$/);
    await expect(other).rejects.toThrow(/^agent: read: proc 134 was killed by SIGSEGV$/);
    conn.close();
  });

  test('a stream error fails it too', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const pending = conn.request('write');
    agent.stream.destroy(new Error('write EPIPE'));
    await expect(pending).rejects.toThrow('agent: connection failed: write EPIPE');
  });

  test.each([
    ['not JSON', 'Segmentation fault\n', 'agent: malformed reply: Segmentation fault'],
    ['not an object', '[1,2]\n', 'agent: reply is not a JSON object: [1,2]'],
    ['no pending request has its id', '{"id":99,"ok":true}\n', 'agent: reply to no pending request: {"id":99,"ok":true}'],
    ['the agent could not read a request', '{"id":null,"error":"malformed JSON at byte 3: expected a string"}\n', 'agent: malformed JSON at byte 3'],
  ])('out of step: a reply that is %s', async (_what, line, message) => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const pending = [conn.request('read'), conn.request('write')];
    agent.reply(line);
    for (const call of pending) await expect(call).rejects.toThrow(message);
    await expect(conn.request('hello')).rejects.toThrow(message);
  });

  test('closing it rejects what is pending, and later calls', async () => {
    const agent = fakeAgent();
    const conn = new AgentConnection(agent.stream);
    const pending = conn.request('write');
    conn.close();
    await expect(pending).rejects.toThrow('agent: connection closed by the harness');
    await expect(conn.request('hello')).rejects.toThrow('agent: connection closed by the harness');
  });
});
