// Event rows of the WebTransport layer (layout: src/events.rs, WT_*) → the
// connection's H3Connection.
import type { QuicConnection } from '../connection';
import { copyOut as copy, type DatagramSlab, RECORD_STRIDE } from '../inbox';
import { h3Of } from './registry';

const WT_REQUEST = 32;
const WT_RESPONSE = 33;
const WT_STREAM = 34;
const WT_DATAGRAM = 35;
const WT_CLOSED = 36;
const WT_RESET = 37;
const WT_DRAINING = 38;

/** Whether `kind` is a WebTransport row. */
export function isWebTransportEvent(kind: number): boolean {
  return kind >= WT_REQUEST && kind <= WT_DRAINING;
}

/**
 * Row `i` (of `rows`) of kind `kind`. Datagrams come out of `datagrams`,
 * which copies a run of them at once (lib/inbox.ts).
 */
export function dispatchWebTransport(conn: QuicConnection, kind: number, records: Float64Array, i: number, rows: number, inbox: Buffer, datagrams: DatagramSlab): void {
  const h3 = h3Of(conn);
  if (!h3) return;
  const r = i * RECORD_STRIDE;
  const [a, b, c, d] = [records[r + 2], records[r + 3], records[r + 4], records[r + 5]];
  switch (kind) {
    case WT_REQUEST:
      h3._onRequest(a, copy(inbox, b, c));
      break;
    case WT_RESPONSE:
      h3._onResponse(a, b);
      break;
    case WT_STREAM:
      h3._onStream(a, b);
      break;
    case WT_DATAGRAM:
      h3._onDatagram(c, datagrams.take(records, rows, i, WT_DATAGRAM));
      break;
    case WT_CLOSED:
      h3._onClosed(a, b, inbox.toString('utf8', c, c + d));
      break;
    case WT_RESET:
      h3._onReset(a);
      break;
    case WT_DRAINING:
      h3._onDraining(a);
      break;
    default:
      break;
  }
}
