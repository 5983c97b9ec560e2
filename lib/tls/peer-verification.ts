// Runs the application's `verify` hook for a peer whose handshake is paused
// in the native verify callback, then hands the verdict back.
import { toAddress } from '../address';
import { certificateFingerprint } from './certificates';
import { debug } from '../debug';
import type { QuicSocket } from '../socket';
import type { Address, PeerInfo, TlsOptions } from '../types';

type VerifyHook = NonNullable<TlsOptions['verify']>;

/** A peer's description for the application's hooks (`verify`, a relay's `allow`). */
export function peerInfo(certificates: Uint8Array[], chainValid: boolean, remoteAddress: Address): PeerInfo {
  const peer: PeerInfo = { certificates, chainValid, remoteAddress };
  if (certificates.length > 0) peer.fingerprint = certificateFingerprint(certificates[0]);
  return peer;
}

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
  const peer = peerInfo(check.certificates, check.chainValid, remoteAddress);
  if (check.chainError !== undefined) peer.chainError = check.chainError;
  if (check.serverName !== undefined) peer.serverName = check.serverName;

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
