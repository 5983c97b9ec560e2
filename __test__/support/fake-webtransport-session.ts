// A stand-in for a WebTransportSession (the interface of API.md: 'datagram'
// events, sendDatagram, maxDatagramSize, close, closed) for driving the UDP
// gateway's sessions without a browser: `fromPage()` is a datagram the page
// sent, `toPage` collects what the gateway sent to the page.
import { EventEmitter } from 'node:events';

export interface FakeCloseInfo {
  code: number;
  reason: string;
  remote: boolean;
}

export class FakeWebTransportSession extends EventEmitter {
  readonly path: string;
  readonly origin: string | undefined = 'https://page.test';
  readonly headers: Record<string, string> = { origin: 'https://page.test' };
  maxDatagramSize = 1200;
  /** When true, sendDatagram() reports a full queue. */
  queueFull = false;
  readonly toPage: Uint8Array[] = [];
  readonly closed: Promise<FakeCloseInfo>;
  closeInfo: FakeCloseInfo | undefined;
  #resolveClosed!: (info: FakeCloseInfo) => void;

  constructor(path = '/udp') {
    super();
    this.path = path;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  sendDatagram(data: Uint8Array): boolean {
    if (this.closeInfo) throw Object.assign(new Error('The WebTransport session is closed'), { code: 'ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED' });
    if (data.byteLength > this.maxDatagramSize) throw Object.assign(new Error('too large'), { code: 'ERR_QUIC_DATAGRAM_TOO_LARGE' });
    if (this.queueFull) return false;
    this.toPage.push(Uint8Array.from(data));
    this.emit('toPage', data);
    return true;
  }

  close(opts: { code?: number; reason?: string } = {}): Promise<void> {
    this.#end({ code: opts.code ?? 0, reason: opts.reason ?? '', remote: false });
    return Promise.resolve();
  }

  /** The page sent `datagram`. */
  fromPage(datagram: Uint8Array): void {
    if (!this.closeInfo) this.emit('datagram', datagram);
  }

  /** The page closed the session. */
  closeFromPage(code = 0, reason = ''): void {
    this.#end({ code, reason, remote: true });
  }

  #end(info: FakeCloseInfo): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    this.#resolveClosed(info);
  }
}
