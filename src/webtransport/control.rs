//! The HTTP/3 control streams (RFC 9114 §6.2.1): ours carries SETTINGS (the
//! ones Chromium looks for: extended CONNECT, HTTP datagrams, and the
//! WebTransport settings of both the old and the current drafts) and, when a
//! server winds down, GOAWAY; the peer's is read for its SETTINGS and GOAWAY.

use web_transport_proto::{Setting, Settings, VarInt};

use super::codes::*;
use super::frames::{self, put_frame, types, varint};
use super::{Event, WebTransport};

impl WebTransport {
    /// Queues our control stream's type and SETTINGS frame.
    pub(super) fn send_settings(&mut self) {
        let mut settings = Settings::default();
        settings.enable_webtransport(u32::try_from(self.max_sessions).unwrap_or(u32::MAX));
        let mut bytes = Vec::new();
        settings.encode(&mut bytes);
        self.writes.queue(self.control, &bytes, false);
    }

    /// Server: tells the client that no request stream from `first_refused`
    /// on will be processed (GOAWAY, RFC 9114 §5.2).
    pub(super) fn send_goaway(&mut self) {
        if self.goaway_sent || !self.is_server {
            return;
        }
        self.goaway_sent = true;
        let mut id = Vec::new();
        frames::put_varint(&mut id, self.next_peer_bidi);
        let mut bytes = Vec::new();
        put_frame(&mut bytes, types::GOAWAY, &id);
        self.writes.queue(self.control, &bytes, false);
    }

    /// Takes bytes of the peer's control stream.
    pub(super) fn on_control_data(&mut self, bytes: &[u8]) {
        self.peer_control_reader.push(bytes);
        while self.error.is_none() {
            let frame = match self.peer_control_reader.next() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(_) => return self.fail(H3_EXCESSIVE_LOAD, "control frame too large"),
            };
            if self.peer_settings.is_none() {
                if frame.typ != types::SETTINGS {
                    return self.fail(
                        H3_MISSING_SETTINGS,
                        "the control stream must start with SETTINGS",
                    );
                }
                match parse_settings(frame.payload()) {
                    Ok(settings) => self.on_settings(&settings),
                    Err(why) => return self.fail(H3_SETTINGS_ERROR, why),
                }
                continue;
            }
            match frame.typ {
                types::GOAWAY => self.on_goaway(frame.payload()),
                types::SETTINGS | types::DATA | types::HEADERS | types::PUSH_PROMISE => {
                    return self.fail(
                        H3_FRAME_UNEXPECTED,
                        "unexpected frame on the control stream",
                    );
                }
                t if types::is_http2_reserved(t) => {
                    return self.fail(
                        H3_FRAME_UNEXPECTED,
                        "HTTP/2 frame type on the control stream",
                    );
                }
                // CANCEL_PUSH, MAX_PUSH_ID, PRIORITY_UPDATE, unknown and
                // reserved types: nothing to do.
                _ => {}
            }
        }
    }

    fn on_settings(&mut self, settings: &Settings) {
        let webtransport = settings.supports_webtransport() > 0;
        // RFC 9220 §3: a client may send extended CONNECT only when the server enabled it.
        let connect = settings
            .get(&Setting::ENABLE_CONNECT_PROTOCOL)
            .is_some_and(|v| v.into_inner() == 1);
        let usable = webtransport && (self.is_server || connect);
        self.peer_settings = Some(usable);
        if !self.is_server {
            self.send_waiting_requests(usable);
        }
    }

    fn on_goaway(&mut self, payload: &[u8]) {
        let Some((id, _)) = varint(payload) else {
            return self.fail(H3_FRAME_ERROR, "malformed GOAWAY");
        };
        if self.is_server {
            return; // a client's GOAWAY concerns pushes, which nquic never makes
        }
        // Sessions at or above `id` were not processed; the others should wind down.
        let sessions: Vec<u64> = self.sessions.keys().copied().collect();
        for session in sessions {
            if session >= id {
                self.end_after_reading(session, Event::Reset { session });
            } else if self
                .sessions
                .get_mut(&session)
                .is_some_and(|s| !s.is_ended() && s.mark_draining())
            {
                self.events.push_back(Event::Draining { session });
            }
        }
    }
}

/// The settings of a SETTINGS frame's payload (RFC 9114 §7.2.4).
fn parse_settings(mut payload: &[u8]) -> Result<Settings, &'static str> {
    let mut settings = Settings::default();
    let mut seen = std::collections::HashSet::new();
    while !payload.is_empty() {
        let id = Setting::decode(&mut payload).map_err(|_| "malformed SETTINGS")?;
        let value = VarInt::decode(&mut payload).map_err(|_| "malformed SETTINGS")?;
        let raw = id.0.into_inner();
        if matches!(raw, 0x02..=0x05) {
            return Err("HTTP/2 setting in SETTINGS");
        }
        if !seen.insert(raw) {
            return Err("a setting appears twice in SETTINGS");
        }
        if !id.is_grease() {
            settings.insert(id, value);
        }
    }
    Ok(settings)
}
