// Candidate addresses, ICE-style (RFC 8445 §5.1.1): where a peer may be
// reached. Host candidates are the socket's own addresses; the server-
// reflexive one is the address the rendezvous sees (the peer's NAT mapping);
// peer-reflexive ones are learned from the punches that arrive. Pure
// functions, so the candidate logic is testable without a network.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Address } from '../types';
import { MAX_CANDIDATES, type Candidate } from './signal';

/** Extra addresses learned from punches, per session, at most. */
export const MAX_PEER_REFLEXIVE = 4;

export function addressKey(a: Pick<Address, 'address' | 'port'>): string {
  return `${a.address}|${a.port}`;
}

function v4Octets(address: string): number[] {
  return address.split('.').map(Number);
}

export function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return v4Octets(address)[0] === 127;
  return address === '::1' || /^0{0,4}(:0{0,4}){6}:0{0,3}1$/.test(address);
}

function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || /^[0:]+$/.test(address);
}

/** IPv6 link-local (fe80::/10): needs a scope, useless to another host. */
function isLinkLocal6(address: string): boolean {
  return /^fe[89ab]/i.test(address);
}

/** An address no candidate may have: unspecified, multicast, broadcast, or synthetic (nquic's relay prefix). */
function isUnusable(address: string): boolean {
  if (isUnspecified(address)) return true;
  if (isIP(address) === 4) {
    const [a] = v4Octets(address);
    return a >= 224 || a === 0;
  }
  const lower = address.toLowerCase();
  return lower.startsWith('ff') || lower.startsWith('100::') || lower.startsWith('100:0:0:0:');
}

/**
 * The socket's host candidates: its bound address, or for a wildcard bind
 * every non-internal interface address of the families it can use (IPv4
 * first; no IPv6 link-local). Loopback only when bound to loopback.
 */
export function hostCandidates(bound: Address, interfaces = networkInterfaces()): Candidate[] {
  const port = bound.port;
  if (!isUnspecified(bound.address)) return [{ kind: 'host', address: bound.address, port, family: bound.family }];
  const v4: Candidate[] = [];
  const v6: Candidate[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv4') v4.push({ kind: 'host', address: info.address, port, family: 'IPv4' });
      else if (bound.family === 'IPv6' && !isLinkLocal6(info.address)) v6.push({ kind: 'host', address: info.address, port, family: 'IPv6' });
    }
  }
  return [...v4, ...v6].slice(0, MAX_CANDIDATES);
}

/**
 * The candidates a socket bound at `bound` can send to, in order, without
 * duplicates or unusable addresses. Loopback addresses only when
 * `allowLoopback` (the rendezvous itself is reached over loopback), so a
 * rendezvous cannot point a peer's punches at its own host's services.
 */
export function usableCandidates(list: Candidate[], bound: Address, allowLoopback: boolean): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const c of list) {
    if (isUnusable(c.address) || (isLoopback(c.address) && !allowLoopback)) continue;
    if (c.family === 'IPv6' && bound.family === 'IPv4') continue;
    const key = addressKey(c);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c);
    if (out.length === MAX_CANDIDATES) break;
  }
  return out;
}

/** A peer's candidates as a rendezvous passes them on: its host candidates, then the address the rendezvous sees, once. */
export function withReflexive(hosts: Candidate[], reflexive: Address): Candidate[] {
  const srflx: Candidate = { kind: 'srflx', address: reflexive.address, port: reflexive.port, family: reflexive.family };
  const rest = hosts.filter((c) => addressKey(c) !== addressKey(srflx)).slice(0, MAX_CANDIDATES - 1);
  const same = rest.length !== hosts.length;
  // A peer whose host address is what the rendezvous sees is not behind a NAT: keep it as host.
  return same ? [...rest, { ...srflx, kind: 'host' }] : [...rest, srflx];
}

/** The candidates of a received message that are addresses a peer may claim: host and server-reflexive only. */
export function announced(list: Candidate[]): Candidate[] {
  return list.filter((c) => c.kind !== 'prflx');
}
