// Linux errno values the native fast paths return (negated) on the socket
// descriptor, and what they tell the fallback logic.
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EBUSY = 16;
export const EINVAL = 22;
export const ENOSYS = 38;
export const ENOTSOCK = 88;
export const EMSGSIZE = 90;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;
/** No fast path at all on this socket or kernel. */
export const NO_FAST_PATH = new Set([ENOSYS, EBADF, ENOTSOCK]);
