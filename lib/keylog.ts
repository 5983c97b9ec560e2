// NSS key-log output (for Wireshark): lines go to a file or a callback.
import { appendFileSync } from 'node:fs';
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
