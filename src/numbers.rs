//! Numbers that cross from JavaScript as `f64` and must be exact integers.

use crate::error::{CoreError, CoreResult, ErrorCode};

/// `value` as a `u64`: a finite, non-negative integer no larger than
/// `Number.MAX_SAFE_INTEGER`, else `ERR_OUT_OF_RANGE` naming `name`.
pub fn to_u64(name: &str, value: f64) -> CoreResult<u64> {
    if !(value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && value <= 9_007_199_254_740_991.0)
    {
        return Err(CoreError::new(
            ErrorCode::OutOfRange,
            format!("{name} must be a non-negative integer, got {value}"),
        ));
    }
    Ok(value as u64)
}

/// A stream ID (RFC 9000 §2.1) as JavaScript passes it.
pub fn stream_id(value: f64) -> CoreResult<u64> {
    to_u64("stream id", value)
}
