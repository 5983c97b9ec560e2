// Diagnostics output: NSS key-log lines (for Wireshark) and qlog (for
// qvis), each to a file or a callback.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsOptions } from './types';

export function writeKeylog(target: NonNullable<TlsOptions['keylog']>, lines: Buffer): void {
  if (typeof target === 'string') {
    appendFileSync(target, lines);
    return;
  }
  for (const line of lines.toString('latin1').split('\n')) {
    if (line.length > 0) target(line);
  }
}

/** Appends a piece of a connection's qlog to its file in `target` (a directory) or hands it to the callback. */
export function writeQlog(target: NonNullable<TlsOptions['qlog']>, side: 'client' | 'server', handle: number, chunk: Buffer): void {
  if (typeof target === 'string') {
    appendFileSync(join(target, `nquic-${side}-${handle}.sqlog`), chunk);
    return;
  }
  target(chunk.toString('utf8'));
}
