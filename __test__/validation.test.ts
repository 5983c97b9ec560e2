import { createSocket } from 'node:dgram';
import { connect, listen, QuicError } from '../lib';
import {
  ALPN,
  ConnectOptions,
  ListenOptions,
  certFor,
  pair,
  rejectionOf,
  sleep,
  trackClient,
  trackDgram,
  trackServer,
  withTimeout,
} from './helpers';

type ErrorWithCode = Error & { code?: string };

/**
 * Calls `fn` and returns what it threw synchronously. A returned promise (even
 * one that later rejects) is a failure: the contract wants a synchronous throw.
 */
function thrownSync(fn: () => unknown, label: string): ErrorWithCode {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    return err as ErrorWithCode;
  }
  if (result && typeof (result as Promise<unknown>).then === 'function') {
    const p = result as Promise<{ close?: () => unknown }>;
    // Don't leak whatever it started.
    p.then((x) => x?.close?.(), () => undefined);
  }
  throw new Error(`${label}: expected a synchronous throw, got ${result === undefined ? 'undefined' : 'a return value'}`);
}

function clientOpts(over: Record<string, unknown> = {}): ConnectOptions {
  const { cert } = certFor();
  return { host: '127.0.0.1', port: 4433, alpn: [ALPN], ca: cert, serverName: 'localhost', ...over } as ConnectOptions;
}

function serverOpts(over: Record<string, unknown> = {}): ListenOptions {
  const { key, cert } = certFor();
  return { address: '127.0.0.1', port: 0, alpn: [ALPN], key, cert, ...over } as ListenOptions;
}

function withoutAlpn<T extends object>(opts: T): T {
  const copy = { ...opts } as Record<string, unknown>;
  delete copy.alpn;
  return copy as T;
}

describe('argument validation', () => {
  test('connect() without alpn throws TypeError ERR_INVALID_ARG_TYPE synchronously', () => {
    const err = thrownSync(() => connect(withoutAlpn(clientOpts())), 'connect() without alpn');
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain('options.alpn');
  });

  test('listen() without alpn throws TypeError ERR_INVALID_ARG_TYPE synchronously', () => {
    const err = thrownSync(() => listen(withoutAlpn(serverOpts())), 'listen() without alpn');
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain('options.alpn');
  });

  test.each([-1, 70000, 65536])('port %d throws RangeError ERR_OUT_OF_RANGE (connect and listen)', (port) => {
    for (const [name, call] of [
      ['connect', () => connect(clientOpts({ port }))],
      ['listen', () => listen(serverOpts({ port }))],
    ] as const) {
      const err = thrownSync(call, `${name}() with port ${port}`);
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe('ERR_OUT_OF_RANGE');
      expect(err.message).toContain('options.port');
    }
  });

  test('a port that is not a number throws TypeError ERR_INVALID_ARG_TYPE', () => {
    const err = thrownSync(() => connect(clientOpts({ port: '4433' })), "connect() with port '4433'");
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain('options.port');
  });

  test('idleTimeout: -5 throws RangeError ERR_OUT_OF_RANGE (connect and listen)', () => {
    for (const [name, call] of [
      ['connect', () => connect(clientOpts({ idleTimeout: -5 }))],
      ['listen', () => listen(serverOpts({ idleTimeout: -5 }))],
    ] as const) {
      const err = thrownSync(call, `${name}() with idleTimeout -5`);
      expect(err).toBeInstanceOf(RangeError);
      expect(err.code).toBe('ERR_OUT_OF_RANGE');
      expect(err.message).toContain('options.idleTimeout');
    }
  });

  test('alpn: [] throws ERR_INVALID_ARG_VALUE (connect and listen)', () => {
    for (const [name, call] of [
      ['connect', () => connect(clientOpts({ alpn: [] }))],
      ['listen', () => listen(serverOpts({ alpn: [] }))],
    ] as const) {
      const err = thrownSync(call, `${name}() with alpn []`);
      expect(err instanceof TypeError || err instanceof RangeError).toBe(true);
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toContain('options.alpn');
    }
  });

  test('a rejected connect() sends no packet', async () => {
    const watcher = trackDgram(createSocket('udp4'));
    let packets = 0;
    watcher.on('message', () => packets++);
    await new Promise<void>((resolve) => watcher.bind(0, '127.0.0.1', () => resolve()));
    const { port } = watcher.address();

    const err = thrownSync(() => connect(clientOpts({ port, idleTimeout: -5 })), 'connect() with idleTimeout -5');
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
    await sleep(200);
    expect(packets).toBe(0);

    // Control: the same options with a valid idleTimeout do reach the watcher.
    const attempt = connect(clientOpts({ port, timeout: 300 })).then((c) => trackClient(c));
    await rejectionOf(attempt, 5000, 'connect() to the watcher');
    expect(packets).toBeGreaterThan(0);
  });

  test('openStream after close rejects with ERR_QUIC_CONNECTION_CLOSED', async () => {
    const { client } = await pair();
    await withTimeout(client.close(), 5000, 'client.close()');
    const err = await rejectionOf(client.openStream(), 2000, 'openStream() after close');
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toBe('ERR_QUIC_CONNECTION_CLOSED');
  });

  test("sendDatagram('x') throws TypeError ERR_INVALID_ARG_TYPE", async () => {
    const { client } = await pair();
    let err: ErrorWithCode | undefined;
    try {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      client.sendDatagram('x' as any);
    } catch (e) {
      err = e as ErrorWithCode;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(err?.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err?.message).toMatch(/data/);
  });

  test('listen() with valid options still works (control)', async () => {
    const server = trackServer(await withTimeout(listen(serverOpts()), 5000, 'listen()'));
    expect(server.address.port).toBeGreaterThan(0);
  });
});
