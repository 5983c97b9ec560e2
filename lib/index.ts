// Public API: re-exports only.
export { listen, connect } from './api';
export { QuicSocket } from './socket';
export { QuicServer } from './server';
export { QuicConnection } from './connection';
export { QuicStream, STREAM_REFUSED, STREAM_ABORTED } from './stream';
export { QuicError, ERROR_CODES } from './errors';
export type { CloseInfo, QuicErrorCode, QuicErrorDetails } from './errors';
export { generateCertificate, certificateFingerprint } from './tls/certificates';
export type { GenerateCertificateOptions, GeneratedCertificate } from './tls/certificates';
export type * from './types';
export { WebTransport } from './webtransport/client';
export type { WebTransportOptions, WebTransportHash, WebTransportCloseInfo, WebTransportConnectionStats } from './webtransport/client';
export { WebTransportError } from './webtransport/errors';
export type { WebTransportErrorOptions, WebTransportErrorSource } from './webtransport/errors';
export { WebTransportSession } from './webtransport/session';
export type { WebTransportCloseInfo as WebTransportSessionCloseInfo } from './webtransport/session';
export type { WebTransportRequest, WebTransportServerOptions } from './webtransport/options';
export type { WebTransportBidirectionalStream } from './webtransport/web-streams';
export type { WebTransportDatagramDuplexStream } from './webtransport/datagrams';
export type * from './events';
export { createUdpGateway, UdpGateway } from './gateway/gateway';
export { UDP_GATEWAY_CLOSE_CODES } from './gateway/options';
export type { AddressRange, UdpGatewayAllow, UdpGatewayDrops, UdpGatewayOptions, UdpGatewaySessionInfo, UdpGatewayStats, UdpGatewayTarget } from './gateway/options';
export { bindingResponse as stunBindingResponse, isBindingRequest as isStunBindingRequest } from './p2p/stun';
import native from './binding';
/**
 * The napi binding itself, for advanced use: the sans-IO native classes
 * (`NativeEndpoint`, `NativeConfig`) that the JavaScript API drives. Its
 * contract (call order, record layouts) is documented in `src/lib.rs`; it
 * may change between minor versions.
 */
export { native };
