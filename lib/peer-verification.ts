// Runs the application's `verify` hook for a peer whose handshake is paused
// in the native verify callback, then hands the verdict back.
import { toAddress } from './address';
import { certificateFingerprint } from './certificates';
import { debug } from './debug';
import type { QuicSocket } from './socket';
import type { PeerInfo, TlsOptions } from './types';

type VerifyHook = NonNullable<TlsOptions['verify']>;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function runVerifyHook(socket: QuicSocket, handle: number, verify: VerifyHook): void {
  const endpoint = socket._endpoint;
  const check = endpoint.peerCheck(handle);
  if (check === null) return;
  let remoteAddress = toAddress('', 0);
  try {
    const info = endpoint.connectionInfo(handle);
    remoteAddress = toAddress(info.remoteAddress, info.remotePort);
  } catch {
    // The connection is already gone; the verdict will be ignored.
  }
  const peer: PeerInfo = {
    certificates: check.certificates,
    chainValid: check.chainValid,
    remoteAddress,
  };
  if (check.chainError !== undefined) peer.chainError = check.chainError;
  if (check.serverName !== undefined) peer.serverName = check.serverName;
  if (check.certificates.length > 0) peer.fingerprint = certificateFingerprint(check.certificates[0]);

  const decide = (refusal: string | null): void => {
    debug('verify hook for connection %d: %s', handle, refusal ?? 'accepted');
    try {
      endpoint.setVerdict(handle, refusal);
      socket._schedule();
    } catch {
      // The connection ended while the hook was deciding.
    }
  };
  let result: ReturnType<VerifyHook>;
  try {
    result = verify(peer);
  } catch (err) {
    decide(`threw: ${describe(err)}`);
    return;
  }
  if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
    (result as Promise<boolean | void>).then(
      (v) => decide(v === false ? 'returned false' : null),
      (err: unknown) => decide(`rejected: ${describe(err)}`),
    );
    return;
  }
  decide(result === false ? 'returned false' : null);
}
