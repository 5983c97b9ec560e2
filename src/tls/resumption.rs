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

use crate::tls::verify::{self, Refusal, SessionVerdict, Verifier};

/// What the connection must do about its peer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Announce it.
    Admitted,
    /// Not yet: the application's hook is deciding.
    Waiting,
    /// Not yet: ask the application's hook (a `VERIFY` event).
    AskHook,
    /// Close the connection with this TLS alert.
    Refuse(u8),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum State {
    #[default]
    NotYet,
    Asked,
    /// The hook answered (`None` accepts); acted on at the next look.
    Answered(Option<Refusal>),
    /// Admitted: a full handshake (checked inside it), or a resumed session
    /// that passed.
    Passed,
    Refused,
}

/// One connection's check of a resumed session's peer.
#[derive(Default)]
pub struct SessionCheck {
    state: State,
    /// How the connection's TLS context checks peers; `None` when it does not.
    verifier: Option<Verifier>,
}

impl SessionCheck {
    pub fn new(verifier: Option<Verifier>) -> Self {
        SessionCheck {
            state: State::NotYet,
            verifier,
        }
    }

    /// Whether connection `conn` (`quic`) may be announced now; call when it
    /// is about to be.
    pub fn admit(&mut self, conn: u32, quic: &quiche::Connection, is_server: bool) -> Admission {
        match std::mem::take(&mut self.state) {
            State::Passed | State::Answered(None) => {
                self.state = State::Passed;
                return Admission::Admitted;
            }
            State::Answered(Some(refusal)) => {
                self.state = State::Refused;
                return Admission::Refuse(verify::refuse_session(conn, refusal));
            }
            state @ (State::Asked | State::Refused) => {
                self.state = state;
                return Admission::Waiting;
            }
            State::NotYet => {}
        }
        let resumed = quic.is_resumed() || (!is_server && quic.is_in_early_data());
        if !resumed {
            // A full handshake: the verify callback has decided already.
            if quic.is_established() {
                self.state = State::Passed;
            }
            return Admission::Admitted;
        }
        let Some(verifier) = self.verifier.as_ref() else {
            self.state = State::Passed;
            return Admission::Admitted;
        };
        let chain = quic.peer_cert_chain().unwrap_or_default();
        let server_name = quic.server_name().map(str::to_string);
        match verify::check_session(conn, verifier, &chain, server_name) {
            SessionVerdict::Accept => {
                self.state = State::Passed;
                Admission::Admitted
            }
            SessionVerdict::Asked => {
                self.state = State::Asked;
                Admission::AskHook
            }
            SessionVerdict::Refuse(alert) => {
                self.state = State::Refused;
                Admission::Refuse(alert)
            }
        }
    }

    /// The application's verdict, if its hook was asked about a resumed
    /// session; `false` when the verdict is for the handshake instead.
    pub fn answer(&mut self, refusal: Option<Refusal>) -> bool {
        if self.state != State::Asked {
            return false;
        }
        self.state = State::Answered(refusal);
        true
    }
}
