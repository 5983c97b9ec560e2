// The quinn peer process (interop/quinn-peer) for both interop suites: its
// build, its certificate files, and bounded server and client runs.
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificate } from '../../lib';
import { ALPN, children, ROOT, run, withTimeout } from './quinn-support';

const PEER_DIR = join(ROOT, 'interop/quinn-peer');
const MANIFEST = join(PEER_DIR, 'Cargo.toml');
const PEER_BIN = join(PEER_DIR, 'target/release/quinn-peer');

/** True when the peer binary is missing or older than any of its sources. */
function peerIsStale(): boolean {
  if (!existsSync(PEER_BIN)) return true;
  const built = statSync(PEER_BIN).mtimeMs;
  const srcDir = join(PEER_DIR, 'src');
  const sources = [MANIFEST, join(PEER_DIR, 'Cargo.lock'), ...readdirSync(srcDir).map((f) => join(srcDir, f))];
  return sources.some((f) => existsSync(f) && statSync(f).mtimeMs > built);
}

/** A certificate for `localhost`, also as files for the peer. */
export interface PeerFiles {
  dir: string;
  creds: { key: string; cert: string };
  certFile: string;
  keyFile: string;
}

/** Builds the peer when it is missing or stale, and writes a certificate for both sides. */
export async function preparePeer(tmpPrefix: string): Promise<PeerFiles> {
  if (peerIsStale()) await run('cargo', ['build', '--release', '--manifest-path', MANIFEST], 9.5 * 60_000);
  if (peerIsStale()) throw new Error(`${PEER_BIN} is missing or stale after cargo build`);
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  const creds = generateCertificate({ subjectAltNames: ['localhost'] });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, creds.cert);
  writeFileSync(keyFile, creds.key);
  return { dir, creds, certFile, keyFile };
}

/** Kills every peer process still running and removes the certificate files. */
export async function cleanUpPeers(files: PeerFiles | undefined): Promise<void> {
  for (const proc of children) {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await withTimeout(exited, 5000, 'child exit').catch(() => undefined);
    }
  }
  children.clear();
  if (files) rmSync(files.dir, { recursive: true, force: true });
}

export interface PeerServer {
  port: number;
  proc: ChildProcess;
  stderr: () => string;
}

/** Starts `quinn-peer server [extra...]` and waits for its `LISTENING <port>` line. */
export async function startQuinnServer(files: PeerFiles, extra: string[] = []): Promise<PeerServer> {
  const proc = spawn(
    PEER_BIN,
    ['server', '--listen', '127.0.0.1:0', '--cert', files.certFile, '--key', files.keyFile, '--alpn', ALPN, ...extra],
    // stdin stays an open pipe: the server exits when it closes (e.g. if jest dies).
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await withTimeout(
    new Promise<number>((resolvePromise, reject) => {
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolvePromise(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`quinn-peer server exited early (${code}): ${err}`)));
      proc.once('error', reject);
    }),
    10_000,
    'quinn-peer server LISTENING line',
  );
  return { port, proc, stderr: () => err };
}

/** Stops a server by closing its stdin (SIGKILL if it does not exit in 3 s). */
export async function stopQuinnServer(peer: PeerServer | undefined): Promise<void> {
  if (!peer) return;
  const { proc } = peer;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.stdin?.end(); // the server exits by itself on stdin EOF
  await withTimeout(exited, 3000, 'quinn-peer server exit').catch(() => proc.kill('SIGKILL'));
  children.delete(proc);
}

/** The JSON line `quinn-peer client` prints when it is done. */
export interface ClientReport {
  streamOk: boolean;
  uniOk: boolean | null;
  datagramsSent: number;
  datagramsEchoed: number;
  datagramsCorrupt: number;
  maxDatagramSize: number | null;
  alpn: string;
  error: string | null;
  connections: number;
  ticketsReceived: number;
  ticketsOffered: number;
  keyUpdates: number;
}

export interface ClientRun {
  code: number | null;
  report: ClientReport | undefined;
  /** Exit code and output, for failure messages. */
  context: string;
}

/** Runs `quinn-peer client` against `port` with `args` to completion (bounded). */
export function runQuinnClient(files: PeerFiles, port: number, args: string[], timeoutMs = 40_000): Promise<ClientRun> {
  const proc = spawn(
    PEER_BIN,
    ['client', '--connect', `127.0.0.1:${port}`, '--ca', files.certFile, '--server-name', 'localhost', '--alpn', ALPN, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolvePromise, reject) => {
    proc.once('exit', (code) => resolvePromise(code));
    proc.once('error', reject);
  });
  return withTimeout(done, timeoutMs, 'quinn-peer client').then((code) => {
    children.delete(proc);
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    const report = line ? (JSON.parse(line) as ClientReport) : undefined;
    return { code, report, context: `exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}` };
  });
}
