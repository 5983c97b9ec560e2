// Per-connection qlog (quiche's qlog, JSON-SEQ) to a callback or a directory.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pair, readAll, withTimeout } from './helpers';

/** JSON-SEQ records (RFC 7464: each starts with 0x1e). */
function records(text: string): Array<Record<string, unknown>> {
  return text
    .split('\x1e')
    .map((r) => r.trim())
    .filter((r) => r.length > 0)
    .map((r) => JSON.parse(r) as Record<string, unknown>);
}

describe('qlog', () => {
  test('a client callback receives the connection qlog, with packet events of the transfer', async () => {
    let text = '';
    const { client, serverConn } = await pair({ client: { qlog: (chunk: string) => (text += chunk) } });
    serverConn.on('stream', (s) => s.pipe(s));
    const stream = await client.openStream();
    stream.end(Buffer.alloc(50_000, 7));
    expect((await withTimeout(readAll(stream), 5000, 'echo')).length).toBe(50_000);
    await client.close();
    const recs = records(text);
    expect(recs.length).toBeGreaterThan(10);
    expect(recs[0]).toMatchObject({ serialization_format: 'JSON-SEQ', title: expect.stringContaining('client connection') });
    const names = new Set(recs.map((r) => String(r.name ?? '')));
    expect([...names].some((n) => n.includes('packet_sent'))).toBe(true);
    expect([...names].some((n) => n.includes('packet_received'))).toBe(true);
  });

  test('a server writes one .sqlog file per connection into the directory; nothing without the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nquic-qlog-'));
    const { client } = await pair({ server: { qlog: dir } });
    await client.close();
    await new Promise((r) => setTimeout(r, 100));
    const files = readdirSync(dir);
    expect(files.length).toBe(1);
    expect(files[0]).toMatch(/^nquic-server-\d+\.sqlog$/);
    expect(records(readFileSync(join(dir, files[0]), 'utf8')).length).toBeGreaterThan(5);
    const quiet = await pair();
    await quiet.client.close();
    expect(readdirSync(dir).length).toBe(1);
  });
});
