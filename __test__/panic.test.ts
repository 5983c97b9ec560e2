// A panic in native code becomes an ERR_QUIC_INTERNAL error; Node lives on
// and the addon keeps working.
import { native } from '../lib';
import { fromNative } from '../lib/errors';
import { pair, readAll, withTimeout } from './helpers';

test('a native panic is caught and turned into ERR_QUIC_INTERNAL, and connections still work afterwards', async () => {
  let caught: unknown;
  try {
    native.debugPanicForTests();
  } catch (err) {
    caught = fromNative(err);
  }
  expect(caught).toMatchObject({ code: 'ERR_QUIC_INTERNAL', message: expect.stringContaining('deliberate panic') });

  const { client, serverConn } = await pair();
  serverConn.on('stream', (s) => s.pipe(s));
  const stream = await client.openStream();
  stream.end('after the panic');
  expect((await withTimeout(readAll(stream), 5000, 'echo')).toString()).toBe('after the panic');
});
