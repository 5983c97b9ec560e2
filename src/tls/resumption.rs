//! Admission of resumed sessions.
//!
//! A resumed TLS 1.3 handshake carries no certificates, so BoringSSL never
//! calls the verify callback ([`super::verify`]): without this check a peer
//! that the `verify` hook (or a changed trust store) now refuses would get in
//! with an old session ticket, and a client's 0-RTT data would reach the
//! server application. So before a connection is announced — `ESTABLISHED`,
//! or a client's `EARLY_DATA` — the peer certificates kept in the session go
//! through the same built-in check and hook as a full handshake. Until the
//! verdict nothing of the connection reaches JavaScript (stream data and
//! datagrams are only polled once it is announced); a refusal closes it with
//! the TLS alert a full handshake would have sent.

use crate::connection::Connection;
use crate::tls::verify::{self, Refusal, SessionVerdict};

/// Where a connection stands with the check of a resumed session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionCheck {
    #[default]
    NotYet,
    /// The application's `verify` hook was asked.
    Asked,
    /// The hook answered (`None` accepts); acted on at the next poll.
    Answered(Option<Refusal>),
    /// Admitted: a full handshake (checked inside it), or a resumed session
    /// that passed.
    Passed,
    /// Refused: the connection is closing.
    Refused,
}

/// CRYPTO_ERROR codes carry the TLS alert (RFC 9001 §4.8).
const CRYPTO_ERROR_BASE: u64 = 0x100;

impl Connection {
    /// Whether the peer may be announced to the application now. Called
    /// when the connection is about to be announced; may ask the hook (a
    /// `VERIFY` event follows) or close the connection.
    pub(crate) fn session_admitted(&mut self) -> bool {
        match std::mem::take(&mut self.session_check) {
            SessionCheck::Passed => {
                self.session_check = SessionCheck::Passed;
                return true;
            }
            state @ (SessionCheck::Asked | SessionCheck::Refused) => {
                self.session_check = state;
                return false;
            }
            SessionCheck::Answered(None) => {
                self.session_check = SessionCheck::Passed;
                return true;
            }
            SessionCheck::Answered(Some(refusal)) => {
                let alert = verify::refuse_session(self.id, refusal);
                self.refuse_session(alert);
                return false;
            }
            SessionCheck::NotYet => {}
        }
        let resumed = self.quic.is_resumed() || (!self.is_server && self.quic.is_in_early_data());
        if !resumed {
            // A full handshake: the verify callback has decided already.
            if self.quic.is_established() {
                self.session_check = SessionCheck::Passed;
            }
            return true;
        }
        let Some(verifier) = self.verifier.as_ref() else {
            self.session_check = SessionCheck::Passed;
            return true;
        };
        let chain = self.quic.peer_cert_chain().unwrap_or_default();
        let server_name = self.quic.server_name().map(str::to_string);
        match verify::check_session(self.id, verifier, &chain, server_name) {
            SessionVerdict::Accept => {
                self.session_check = SessionCheck::Passed;
                true
            }
            SessionVerdict::Asked => {
                self.session_check = SessionCheck::Asked;
                self.verify_requested = true;
                false
            }
            SessionVerdict::Refuse(alert) => {
                self.refuse_session(alert);
                false
            }
        }
    }

    /// The application's verdict about a resumed session's peer, if it was
    /// asked about one; `false` when the verdict is for the handshake.
    pub(crate) fn answer_session_check(&mut self, refusal: Option<Refusal>) -> bool {
        if self.session_check != SessionCheck::Asked {
            return false;
        }
        self.session_check = SessionCheck::Answered(refusal);
        true
    }

    fn refuse_session(&mut self, alert: u8) {
        self.session_check = SessionCheck::Refused;
        self.close(false, CRYPTO_ERROR_BASE + u64::from(alert), b"");
    }
}
