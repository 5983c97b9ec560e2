'use strict';
/** `length` bytes of a fixed pattern starting at `offset` (both sides can make it). */
function pattern(offset, length) {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 7919) % 251;
  return out;
}
module.exports = { pattern };
