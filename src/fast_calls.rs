//! The calls made per packet or per event, as raw Node-API functions.
//!
//! napi-rs spends about 290 ns on a class-method call before the method
//! runs, about 385 ns with `flush`'s four arguments (it records each borrow
//! of the receiver and of every argument in a process-wide map, behind a
//! mutex), and converts strings into `String`s.
//! A request/response exchange makes about nine such calls, so that cost was
//! close to a tenth of a round trip. These functions do the same work with a
//! plain `napi_get_cb_info` and the typed-array look-ups (about 65 ns).
//!
//! [`NativeEndpoint::fast_calls`](crate::binding::NativeEndpoint) returns an
//! object of them, bound to its endpoint: each function holds a reference to
//! the endpoint (its callback data, released by the function's finalizer), so
//! no JavaScript value is unwrapped per call. Errors cross as JavaScript
//! errors carrying the [`ErrorCode`] as `code`, as napi-rs's do; a panic
//! becomes an `ERR_QUIC_INTERNAL` error (see [`CoreError::from_panic`]).

use std::cell::RefCell;
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::sys;

use crate::addr;
use crate::endpoint::Endpoint;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::io::{batch_send, queued};
use crate::transmit::STRIDE;

/// The endpoint as the `#[napi]` class and these functions share it. Both
/// run only on the JavaScript thread and never call into JavaScript while
/// they hold a borrow, so borrows never overlap.
pub type SharedEndpoint = Rc<RefCell<Endpoint>>;

/// The status row `flush` writes last into `meta`: `[sent, pending, timeout]`,
/// where `sent` is how many of the packets went out on the descriptor (an
/// `i32`: a negative errno when none did; 0 without a descriptor),
/// `pending` is 1 when events wait for `pollEvents`, and `timeout` the
/// microseconds until the earliest deadline ([`NO_TIMEOUT`] when none;
/// capped just below it: a timer that fires early finds nothing due).
pub const FLUSH_STATUS: usize = 3;
/// `timeout` in the status row of `flush` when there is no deadline.
pub const NO_TIMEOUT: u32 = u32::MAX;
/// The bit of `recv`'s answer that says more datagrams wait on the
/// descriptor it was given (above every outcome).
pub const RECV_QUEUED: u32 = 8;

/// The most arguments any of these functions takes.
const MAX_ARGS: usize = 4;
/// Longer than any textual IP address (IPv6 with a zone included).
const MAX_ADDRESS: usize = 96;

type RawCall = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// The functions of the object `fastCalls()` returns. Shapes (see
/// `lib/fast-calls.ts`, which types them for TypeScript):
/// - `recv(data: Buffer, address: string, port: number, fd: number): number`:
///   one received datagram (decrypted in place). Its outcome: 0 delivered,
///   1 accepted a new connection, 2 version negotiation queued, 3 dropped,
///   4 Retry sent; plus [`RECV_QUEUED`] when, with a descriptor (`fd` >= 0,
///   Linux fast path), more datagrams wait on it (`io/queued.rs`).
/// - `pollEvents(inbox: Buffer, records: Float64Array): number`: event rows
///   (see `events.rs`) into `records` but its last number, which says whether
///   more events wait (1) or not (0); returns the row count.
/// - `flush(out: Buffer, meta: Uint32Array, fd: number, sendFlags: number): number`:
///   a batch of outgoing packets (see `transmit.rs`) into `meta`'s rows but
///   its last, the packet count returned. With a descriptor (`fd` >= 0, Linux
///   fast path) it also sends them (`io/batch_send.rs`; `sendFlags`: bit 0 an
///   IPv6 socket, bit 1 GSO). The last row is the [`FLUSH_STATUS`] row.
/// - `openStream(conn: number, bidirectional: boolean): number`: the new
///   stream's ID, or -1 when the peer's limit is reached.
/// - `streamWrite(conn: number, stream: number, data: Buffer, fin: boolean): number`:
///   bytes accepted (FIN included when all were), -2 when blocked with nothing
///   accepted, -1 when the stream can take no more data, or -3 when the peer
///   just stopped it (a STREAM_STOPPED event follows).
/// - `sendDatagram(conn: number, data: Buffer): number`: -1 when the queue is
///   full, else `room * 65536 + maxDatagramSize`, where `room` is how many
///   more datagrams the queue takes.
const FUNCTIONS: [(&str, RawCall); 6] = [
    ("recv", recv),
    ("pollEvents", poll_events),
    ("flush", flush),
    ("openStream", open_stream),
    ("streamWrite", stream_write),
    ("sendDatagram", send_datagram),
];

/// Builds the object of the functions above (`FUNCTIONS`) bound to `endpoint`.
///
/// # Safety
/// `env` is the environment of the current Node-API call.
pub unsafe fn create(env: sys::napi_env, endpoint: &SharedEndpoint) -> CoreResult<sys::napi_value> {
    let mut object = ptr::null_mut();
    check(sys::napi_create_object(env, &mut object))?;
    for (name, call) in FUNCTIONS {
        let data = Box::into_raw(Box::new(Rc::clone(endpoint))).cast::<c_void>();
        let mut function = ptr::null_mut();
        let created = sys::napi_create_function(
            env,
            name.as_ptr().cast(),
            name.len() as isize,
            Some(call),
            data,
            &mut function,
        );
        if created != sys::Status::napi_ok {
            release(env, data, ptr::null_mut());
            return Err(CoreError::internal("napi_create_function failed"));
        }
        if sys::napi_add_finalizer(
            env,
            function,
            data,
            Some(release),
            ptr::null_mut(),
            ptr::null_mut(),
        ) != sys::Status::napi_ok
        {
            release(env, data, ptr::null_mut());
            return Err(CoreError::internal("napi_add_finalizer failed"));
        }
        let key = CString::new(name).map_err(|_| CoreError::internal("function name"))?;
        check(sys::napi_set_named_property(
            env,
            object,
            key.as_ptr(),
            function,
        ))?;
    }
    Ok(object)
}

/// A function's finalizer: drops its reference to the endpoint.
unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(Box::from_raw(data.cast::<SharedEndpoint>()));
}

fn check(status: sys::napi_status) -> CoreResult<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(CoreError::internal(format_args!(
            "Node-API status {status}"
        )))
    }
}

/// One call's arguments and the endpoint it is bound to.
struct Call {
    env: sys::napi_env,
    argv: [sys::napi_value; MAX_ARGS],
    endpoint: *const SharedEndpoint,
}

impl Call {
    unsafe fn new(
        env: sys::napi_env,
        info: sys::napi_callback_info,
        want: usize,
    ) -> CoreResult<Self> {
        let mut argc = MAX_ARGS;
        let mut argv = [ptr::null_mut(); MAX_ARGS];
        let mut data = ptr::null_mut();
        check(sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        ))?;
        if argc < want {
            return Err(CoreError::new(
                ErrorCode::InvalidArgType,
                format!("expected {want} arguments, got {argc}"),
            ));
        }
        Ok(Call {
            env,
            argv,
            endpoint: data.cast::<SharedEndpoint>().cast_const(),
        })
    }

    /// The elements of typed array argument `index` of element type `kind`.
    ///
    /// # Safety
    /// No other slice of the same memory is alive while this one is used
    /// (lib/socket.ts passes distinct arrays), and JavaScript does not run
    /// meanwhile.
    unsafe fn typed<'a, T>(
        &self,
        index: usize,
        kind: sys::napi_typedarray_type,
        what: &str,
    ) -> CoreResult<&'a mut [T]> {
        let value = self.argv[index];
        let mut is_typed = false;
        check(sys::napi_is_typedarray(self.env, value, &mut is_typed))?;
        let (mut actual, mut length, mut data) = (0, 0usize, ptr::null_mut());
        if is_typed {
            check(sys::napi_get_typedarray_info(
                self.env,
                value,
                &mut actual,
                &mut length,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            ))?;
        }
        if !is_typed || actual != kind {
            return Err(CoreError::new(
                ErrorCode::InvalidArgType,
                format!("argument {index} must be a {what}"),
            ));
        }
        if length == 0 || data.is_null() {
            return Ok(&mut []);
        }
        Ok(std::slice::from_raw_parts_mut(data.cast::<T>(), length))
    }

    unsafe fn bytes<'a>(&self, index: usize) -> CoreResult<&'a mut [u8]> {
        self.typed(
            index,
            sys::TypedarrayType::uint8_array,
            "Buffer or Uint8Array",
        )
    }

    unsafe fn number(&self, index: usize) -> CoreResult<f64> {
        let mut value = 0.0;
        if sys::napi_get_value_double(self.env, self.argv[index], &mut value)
            != sys::Status::napi_ok
        {
            return Err(CoreError::new(
                ErrorCode::InvalidArgType,
                format!("argument {index} must be a number"),
            ));
        }
        Ok(value)
    }

    /// A number argument that must be an integer from `min` to `max`
    /// (`what` says so in the error).
    unsafe fn integer(&self, index: usize, min: f64, max: f64, what: &str) -> CoreResult<f64> {
        let value = self.number(index)?;
        if value.fract() != 0.0 || !(min..=max).contains(&value) {
            return Err(CoreError::new(
                ErrorCode::OutOfRange,
                format!("argument {index} must be {what}, got {value}"),
            ));
        }
        Ok(value)
    }

    unsafe fn u32(&self, index: usize) -> CoreResult<u32> {
        let max = f64::from(u32::MAX);
        Ok(self.integer(index, 0.0, max, "an integer from 0 to 4294967295")? as u32)
    }

    unsafe fn i32(&self, index: usize) -> CoreResult<i32> {
        let (min, max) = (f64::from(i32::MIN), f64::from(i32::MAX));
        Ok(self.integer(index, min, max, "a 32-bit integer")? as i32)
    }

    unsafe fn boolean(&self, index: usize) -> CoreResult<bool> {
        let mut value = false;
        if sys::napi_get_value_bool(self.env, self.argv[index], &mut value) != sys::Status::napi_ok
        {
            return Err(CoreError::new(
                ErrorCode::InvalidArgType,
                format!("argument {index} must be a boolean"),
            ));
        }
        Ok(value)
    }

    /// A string argument of at most [`MAX_ADDRESS`] bytes, read into `buf`.
    unsafe fn address<'a>(
        &self,
        index: usize,
        buf: &'a mut [u8; MAX_ADDRESS + 1],
    ) -> CoreResult<&'a str> {
        let mut length = 0usize;
        let read = sys::napi_get_value_string_utf8(
            self.env,
            self.argv[index],
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut length,
        );
        if read != sys::Status::napi_ok {
            return Err(CoreError::new(
                ErrorCode::InvalidArgType,
                format!("argument {index} must be a string"),
            ));
        }
        buf.get(..length)
            .filter(|_| length < MAX_ADDRESS)
            .and_then(|text| std::str::from_utf8(text).ok())
            .ok_or_else(|| {
                CoreError::new(
                    ErrorCode::InvalidArgValue,
                    format!("argument {index} is not an IP address"),
                )
            })
    }
}

/// Runs `body` for one call: arguments read, endpoint borrowed, any error
/// or panic thrown as a JavaScript error. Returns the number `body` gave.
unsafe fn run(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    want: usize,
    body: impl FnOnce(&Call, &mut Endpoint) -> CoreResult<f64>,
) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let call = Call::new(env, info, want)?;
        let endpoint = &*call.endpoint;
        let mut endpoint = endpoint
            .try_borrow_mut()
            .map_err(|_| CoreError::internal("the endpoint is busy"))?;
        body(&call, &mut endpoint)
    }))
    .unwrap_or_else(|panic| Err(CoreError::from_panic(panic.as_ref())));
    match outcome {
        Ok(value) => {
            let mut result = ptr::null_mut();
            sys::napi_create_double(env, value, &mut result);
            result
        }
        Err(error) => {
            throw(env, &error);
            ptr::null_mut()
        }
    }
}

unsafe fn throw(env: sys::napi_env, error: &CoreError) {
    let code = CString::new(error.code.as_str()).unwrap_or_default();
    let message = CString::new(error.message.replace('\0', " ")).unwrap_or_default();
    sys::napi_throw_error(env, code.as_ptr(), message.as_ptr());
}

unsafe extern "C" fn recv(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    run(env, info, 4, |call, endpoint| {
        let data = call.bytes(0)?;
        let mut text = [0u8; MAX_ADDRESS + 1];
        let from = addr::parse(call.address(1, &mut text)?, call.u32(2)?)?;
        let fd = call.i32(3)?;
        let outcome = endpoint.recv(data, from) as u32;
        // Asked after the packet is handled: what came in meanwhile counts.
        let more = fd >= 0 && queued::queued(fd);
        Ok(f64::from(outcome | if more { RECV_QUEUED } else { 0 }))
    })
}

unsafe extern "C" fn poll_events(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    run(env, info, 2, |call, endpoint| {
        let inbox = call.bytes(0)?;
        let records: &mut [f64] =
            call.typed(1, sys::TypedarrayType::float64_array, "Float64Array")?;
        let Some((more, rows)) = records.split_last_mut() else {
            return Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                "records has no room for the status slot",
            ));
        };
        let count = endpoint.poll_events_chunked(inbox, rows);
        *more = if endpoint.has_pending_events() {
            1.0
        } else {
            0.0
        };
        Ok(count as f64)
    })
}

unsafe extern "C" fn flush(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    run(env, info, 4, |call, endpoint| {
        let out = call.bytes(0)?;
        let meta: &mut [u32] = call.typed(1, sys::TypedarrayType::uint32_array, "Uint32Array")?;
        let (fd, send_flags) = (call.i32(2)?, call.u32(3)?);
        let Some(rows) = meta.len().checked_sub(STRIDE) else {
            return Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                "meta has no room for the status row",
            ));
        };
        let (rows, status) = meta.split_at_mut(rows);
        let packets = endpoint.flush(out, rows);
        let sent = if fd >= 0 && packets > 0 {
            batch_send::send(
                fd,
                out,
                rows,
                packets,
                send_flags & 1 != 0,
                send_flags & 2 != 0,
            )
        } else {
            0
        };
        status[0] = sent as u32;
        status[1] = u32::from(endpoint.has_pending_events());
        status[2] = match endpoint.next_timeout() {
            None => NO_TIMEOUT,
            Some(ms) => (ms * 1000.0).ceil().min(f64::from(NO_TIMEOUT - 1)) as u32,
        };
        Ok(packets as f64)
    })
}

unsafe extern "C" fn open_stream(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    run(env, info, 2, |call, endpoint| {
        let (conn, bidirectional) = (call.u32(0)?, call.boolean(1)?);
        let c = endpoint.connection_for_send(conn)?;
        Ok(c.stream_open(bidirectional)?.map_or(-1.0, |id| id as f64))
    })
}

unsafe extern "C" fn stream_write(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    run(env, info, 4, |call, endpoint| {
        let conn = call.u32(0)?;
        let stream = crate::numbers::stream_id(call.number(1)?)?;
        let (data, fin) = (call.bytes(2)?, call.boolean(3)?);
        let accepted = endpoint
            .connection_for_send(conn)?
            .stream_write(stream, data, fin)?;
        if accepted < data.len() as i64 {
            // Blocked: polls from now on look for room to wake it.
            endpoint.queue_events(conn);
        }
        Ok(accepted as f64)
    })
}

unsafe extern "C" fn send_datagram(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    run(env, info, 2, |call, endpoint| {
        let (conn, data) = (call.u32(0)?, call.bytes(1)?);
        let conn = endpoint.connection_for_send(conn)?;
        if !conn.datagram_send(data)? {
            return Ok(-1.0);
        }
        let max = conn.max_datagram_size().min(0xffff);
        Ok(conn.datagram_room() as f64 * 65536.0 + max as f64)
    })
}
