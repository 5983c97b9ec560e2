// WebTransportError (W3C WebTransport §6.8): a DOMException whose `source`
// says whether a stream or the whole session failed, with the peer's
// stream error code where there is one.

/** What failed: one stream, or the whole session. */
export type WebTransportErrorSource = 'stream' | 'session';

/** The second argument of `new WebTransportError(message, options)` (W3C `WebTransportErrorOptions`). */
export interface WebTransportErrorOptions {
  /** Default `'stream'`. */
  source?: WebTransportErrorSource;
  /** A WebTransport stream error code (0 to 2^32-1), or null (the default). */
  streamErrorCode?: number | null;
}

/**
 * W3C `WebTransportError`: a `DOMException` named `'WebTransportError'`.
 * Reading a stream the peer reset, or writing one it stopped, fails with one
 * whose `source` is `'stream'` and `streamErrorCode` the peer's code; passing
 * one to `writer.abort()` or `reader.cancel()` sends its `streamErrorCode`
 * (RESET_STREAM / STOP_SENDING). nquic's own errors set `cause` to the
 * {@link QuicError} behind them.
 */
export class WebTransportError extends DOMException {
  /** `'stream'` when one stream failed, `'session'` when the session did. */
  readonly source: WebTransportErrorSource;
  /** The peer's WebTransport stream error code (0 to 2^32-1), or null. */
  readonly streamErrorCode: number | null;

  constructor(message = '', options: WebTransportErrorOptions = {}) {
    super(message, 'WebTransportError');
    this.source = options.source ?? 'stream';
    this.streamErrorCode = options.streamErrorCode ?? null;
  }
}

/** A WebTransportError with the nquic error that caused it as `cause`. */
export function webTransportError(message: string, options: WebTransportErrorOptions, cause?: unknown): WebTransportError {
  const error = new WebTransportError(message, options);
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}
