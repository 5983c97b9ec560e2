"""A WebTransport server on aioquic, for nquic's interoperability tests.

Prints one JSON object per line on stdout: {"ready": port} once listening,
then what clients did ({"closed": ...} when a client closes a session with
CLOSE_WEBTRANSPORT_SESSION, {"session": path} for each session).

Paths:
  /echo    accept; echo bidirectional streams and datagrams; answer each
           unidirectional stream with the SHA-256 (hex) of its bytes on a
           new unidirectional stream; open a bidirectional stream that
           carries "hello from aioquic"
  /refuse  answer 403
  /close   accept; on the first datagram, close the session with code 42
           and reason "bye from aioquic"
"""

import argparse
import asyncio
import hashlib
import json
import struct
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.buffer import Buffer, BufferReadError
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    DataReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, StreamReset

CLOSE_WEBTRANSPORT_SESSION = 0x2843


def report(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def encode_varint(value):
    buf = Buffer(capacity=8)
    buf.push_uint_var(value)
    return buf.data


def close_capsule(code, reason):
    payload = struct.pack("!I", code) + reason.encode()
    return encode_varint(CLOSE_WEBTRANSPORT_SESSION) + encode_varint(len(payload)) + payload


class Session:
    def __init__(self, path):
        self.path = path
        self.capsules = b""
        self.uni = {}  # stream id -> hash of its bytes so far
        self.closed = False


class WebTransportProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._h3 = None
        self._sessions = {}

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated):
            self._h3 = H3Connection(self._quic, enable_webtransport=True)
        if isinstance(event, StreamReset):
            report({"reset": event.stream_id, "code": event.error_code})
        if self._h3 is not None:
            for h3_event in self._h3.handle_event(event):
                self._on_h3(h3_event)

    def _on_h3(self, event):
        if isinstance(event, HeadersReceived):
            headers = dict(event.headers)
            if headers.get(b":method") == b"CONNECT" and headers.get(b":protocol") == b"webtransport":
                self._on_connect(event.stream_id, headers[b":path"].decode())
            else:
                self._h3.send_headers(event.stream_id, [(b":status", b"404")], end_stream=True)
        elif isinstance(event, DataReceived) and event.stream_id in self._sessions:
            self._on_capsule_data(event.stream_id, event.data, event.stream_ended)
        elif isinstance(event, WebTransportStreamDataReceived):
            self._on_stream_data(event)
        elif isinstance(event, DatagramReceived):
            session = self._sessions.get(event.stream_id)
            if session is None:
                return
            if session.path == "/close" and not session.closed:
                session.closed = True
                self._h3.send_data(event.stream_id, close_capsule(42, "bye from aioquic"), end_stream=True)
            else:
                self._h3.send_datagram(event.stream_id, event.data)
        self.transmit()

    def _on_connect(self, stream_id, path):
        if path == "/refuse":
            self._h3.send_headers(stream_id, [(b":status", b"403")], end_stream=True)
            return
        self._sessions[stream_id] = Session(path)
        self._h3.send_headers(stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")])
        report({"session": path})
        if path == "/echo":
            stream = self._h3.create_webtransport_stream(stream_id, is_unidirectional=False)
            self._quic.send_stream_data(stream, b"hello from aioquic", end_stream=True)

    def _on_capsule_data(self, session_id, data, ended):
        session = self._sessions[session_id]
        session.capsules += data
        buf = Buffer(data=session.capsules)
        while not buf.eof():
            start = buf.tell()
            try:
                kind = buf.pull_uint_var()
                length = buf.pull_uint_var()
                payload = buf.pull_bytes(length)
            except BufferReadError:
                buf.seek(start)
                break
            if kind == CLOSE_WEBTRANSPORT_SESSION:
                code = struct.unpack("!I", payload[:4])[0]
                report({"closed": {"code": code, "reason": payload[4:].decode()}})
        session.capsules = session.capsules[buf.tell():]
        if ended:
            report({"fin": session_id})
            if not session.closed:
                session.closed = True
                self._h3.send_data(session_id, b"", end_stream=True)

    def _on_stream_data(self, event):
        session = self._sessions.get(event.session_id)
        if session is None:
            return
        stream_id = event.stream_id
        unidirectional = stream_id & 2 == 2
        if not unidirectional:
            self._quic.send_stream_data(stream_id, event.data, end_stream=event.stream_ended)
            return
        digest = session.uni.setdefault(stream_id, hashlib.sha256())
        digest.update(event.data)
        if event.stream_ended:
            del session.uni[stream_id]
            reply = self._h3.create_webtransport_stream(event.session_id, is_unidirectional=True)
            self._quic.send_stream_data(reply, digest.hexdigest().encode(), end_stream=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    configuration = QuicConfiguration(
        alpn_protocols=H3_ALPN,
        is_client=False,
        max_datagram_frame_size=65536,
    )
    configuration.load_cert_chain(args.cert, args.key)
    server = await serve(args.host, args.port, configuration=configuration, create_protocol=WebTransportProtocol)
    port = server._transport.get_extra_info("sockname")[1]
    report({"ready": port})
    # Runs until the test closes stdin (or kills the process).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
