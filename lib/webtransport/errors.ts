// WebTransportError (W3C WebTransport §6.8): a DOMException whose `source`
// says whether a stream or the whole session failed, with the peer's
// stream error code where there is one.

export type WebTransportErrorSource = 'stream' | 'session';

export interface WebTransportErrorOptions {
  source?: WebTransportErrorSource;
  streamErrorCode?: number | null;
}

export class WebTransportError extends DOMException {
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
