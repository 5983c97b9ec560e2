import { QuicStream, pair, readAll, within } from './helpers';

test('diag fin race', async () => {
  const { client, serverConn } = await pair();
  const serverStreams: QuicStream[] = [];
  serverConn.on('stream', (s: QuicStream) => serverStreams.push(s));
  let lost = 0;
  for (let i = 0; i < 20; i++) {
    const s = await client.openStream();
    s.end('req');
    while (serverStreams.length <= i) await new Promise((r) => setTimeout(r, 1));
    const ss = serverStreams[i];
    await readAll(ss);
    let ended = false;
    s.once('data', () => ss.end());
    const got = readAll(s).then((d) => { ended = true; return d; });
    ss.write(Buffer.alloc(Number(process.env.SIZE ?? 3000), 1));
    const r = await within(got, 1000);
    if (r === undefined) lost++;
  }
  console.log('lost FINs', lost, 'of 20', client.streamCounts(), serverConn.streamCounts());
}, 60000);
