// Decodes a batch of native event rows (layout: src/events.rs) and hands each
// to its connection. Payload bytes are copied out of the shared inbox, which
// the next poll overwrites, except large stream data, which the native layer
// hands over in buffers of its own (a negative inbox offset: see `_chunk`).
import { copyOut as copy, DatagramSlab, RECORD_STRIDE } from './inbox';
import type { QuicSocket } from './socket';
import { dispatchWebTransport, isWebTransportEvent } from './webtransport/dispatch';

const ESTABLISHED = 1;
const CLOSED = 2;
const STREAM_DATA = 3;
const STREAM_RESET = 4;
const STREAM_STOPPED = 5;
const STREAM_WRITABLE = 6;
const DATAGRAM = 7;
const STREAMS_AVAILABLE = 8;
const VERIFY = 9;
const KEYLOG = 10;
const EARLY_DATA = 11;
const SESSION_TICKET = 12;
const QLOG = 13;
const RELAY_REQUEST = 14;
const RELAY_REGISTERED = 15;
const SIGNAL = 16;

/**
 * Dispatches every row of a batch. An exception thrown by an application
 * handler must not lose the rest of the batch (a lost CLOSED row would leave
 * a connection's `closed` pending forever), so each row is isolated and the
 * first exception is rethrown afterwards, on its own tick, as an uncaught
 * exception — where Node would have surfaced it anyway.
 */
export function dispatchEvents(socket: QuicSocket, records: Float64Array, rows: number, inbox: Buffer): void {
  let failure: { error: unknown } | undefined;
  const datagrams = new DatagramSlab(inbox);
  for (let i = 0; i < rows; i++) {
    try {
      dispatchRow(socket, records, i, rows, inbox, datagrams);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) {
    const { error } = failure;
    process.nextTick(() => {
      throw error;
    });
  }
}

function dispatchRow(socket: QuicSocket, records: Float64Array, i: number, rows: number, inbox: Buffer, datagrams: DatagramSlab): void {
  const r = i * RECORD_STRIDE;
  const kind = records[r];
  const id = records[r + 1];
  if (kind === RELAY_REQUEST) {
    const server = socket._server;
    if (server) server._relayRequest(id, records[r + 2], records[r + 3]);
    else socket._endpoint.relayVerdict(records[r + 2], false);
    return;
  }
  if (kind === ESTABLISHED) {
    const existing = socket._connection(id);
    if (existing) existing._onEstablished();
    else if (socket._server) socket._server._accept(id);
    else socket._refuseConnection(id); // its server stopped accepting meanwhile
    return;
  }
  const conn = socket._connection(id);
  if (conn === undefined) {
    // A server connection still in its handshake, or one whose server
    // went away meanwhile.
    const server = socket._server;
    if (kind === VERIFY) server ? server._verify(id) : socket._endpoint.setVerdict(id, 'no server');
    else if (kind === KEYLOG) server?._keylog(copy(inbox, records[r + 2], records[r + 3]));
    else if (kind === QLOG) server?._qlog(id, copy(inbox, records[r + 2], records[r + 3]));
    else if (kind === CLOSED) socket._endpoint.takeCloseInfo(id);
    return;
  }
  switch (kind) {
    case CLOSED:
      conn._onClosed(socket._endpoint.takeCloseInfo(id));
      break;
    case STREAM_DATA: {
      const offset = records[r + 3];
      const data = offset >= 0 ? copy(inbox, offset, records[r + 4]) : socket._chunk(-1 - offset);
      conn._onStreamData(records[r + 2], data, records[r + 5] === 1);
      break;
    }
    case STREAM_RESET:
      conn._onStreamReset(records[r + 2], records[r + 3]);
      break;
    case STREAM_STOPPED:
      conn._onStreamStopped(records[r + 2], records[r + 3]);
      break;
    case STREAM_WRITABLE:
      conn._onStreamWritable(records[r + 2]);
      break;
    case DATAGRAM:
      conn._onDatagram(datagrams.take(records, rows, i, DATAGRAM));
      break;
    case STREAMS_AVAILABLE:
      conn._onStreamCredit();
      break;
    case VERIFY:
      conn._onVerify();
      break;
    case KEYLOG:
      conn._onKeylog(copy(inbox, records[r + 2], records[r + 3]));
      break;
    case EARLY_DATA:
      conn._onEarlyData();
      break;
    case SESSION_TICKET:
      conn._onSessionTicket();
      break;
    case QLOG:
      conn._onQlog(copy(inbox, records[r + 2], records[r + 3]));
      break;
    case RELAY_REGISTERED:
      conn._onRelayRegistered(records[r + 2]);
      break;
    case SIGNAL:
      conn._onSignal(copy(inbox, records[r + 2], records[r + 3]));
      break;
    default:
      if (isWebTransportEvent(kind)) dispatchWebTransport(conn, kind, records, i, rows, inbox, datagrams);
      break;
  }
}
