// Datagrams with their own IP TTL (IPv4) or hop limit (IPv6), for the
// low-TTL punches of hole punching. On Linux the native layer sends each one
// with sendmsg(2) and an IP_TTL / IPV6_HOPLIMIT control message on the dgram
// socket's own descriptor (src/io/ttl_send.rs): the TTL applies to that one
// packet, also toward IPv4 peers of a dual-stack socket, whose TTL Node
// cannot set. Elsewhere (or with NQUIC_TTL_SEND=0) the portable path sets the
// socket's TTL around one synchronous dgram send, which works only when the
// socket and the peer have the same IP family.
import type dgram from 'node:dgram';
import { isIP } from 'node:net';
import native from '../binding';
import { QuicError } from '../errors';
import { descriptorOf } from './descriptor';
import { EBADF, ENOPROTOOPT, EOPNOTSUPP, NO_FAST_PATH } from './errno';

const DEFAULT_TTL = 64;
/** Errors that mean "no such fast path here"; after any other the datagram counts as lost, as on the network. */
const FATAL = new Set([...NO_FAST_PATH, ENOPROTOOPT, EOPNOTSUPP]);

export class TtlSender {
  readonly #udp: dgram.Socket;
  readonly #ipv6: boolean;
  #native: boolean;

  constructor(udp: dgram.Socket, ipv6: boolean) {
    this.#udp = udp;
    this.#ipv6 = ipv6;
    this.#native = process.platform === 'linux' && process.env.NQUIC_TTL_SEND !== '0' && typeof native.sendWithTtl === 'function';
  }

  /** Whether a datagram to `host` (an IP literal) can carry its own TTL. */
  supports(host: string): boolean {
    return this.#native || !(this.#ipv6 && isIP(host) === 4);
  }

  /**
   * Sends `data` to `host:port` (an IP literal) with IP TTL / hop limit
   * `ttl`. Throws `ERR_QUIC_TTL_UNSUPPORTED` when neither path can limit it.
   */
  send(data: Buffer, port: number, host: string, ttl: number): void {
    if (this.#native && isIP(host) !== 0) {
      const fd = descriptorOf(this.#udp);
      const sent = fd < 0 ? -EBADF : native.sendWithTtl(fd, data, host, port, ttl, this.#ipv6);
      if (sent >= 0 || !FATAL.has(-sent)) return;
      // No fast path on this socket or kernel: the portable one from now on.
      this.#native = false;
    }
    if (!this.supports(host)) {
      // Node sets only the IPv6 hop limit on an IPv6 socket; IPv4 packets
      // from it would silently keep the default TTL.
      throw new QuicError(
        'ERR_QUIC_TTL_UNSUPPORTED',
        'options.ttl cannot limit IPv4 packets from an IPv6 (dual-stack) socket here; bind the socket to an IPv4 address such as 0.0.0.0',
      );
    }
    // Sends to IP literals happen synchronously, so the TTL applies to
    // exactly this packet.
    this.#udp.setTTL(ttl);
    try {
      this.#udp.send(data, port, host);
    } finally {
      this.#udp.setTTL(DEFAULT_TTL);
    }
  }
}
