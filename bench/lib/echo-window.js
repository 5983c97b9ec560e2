'use strict';
// A window of numbered messages in flight, for echo benchmarks (datagram, udp-gateway): for
// `seconds`, keep `window` messages out; `send(seq)` sends one (false: it could not, e.g. a full
// queue; retried on the next echo or tick); the caller reports each echo with `echoed(seq)`. A
// message not back within 200 ms is counted lost and frees its slot.
//
// The bookkeeping allocates nothing per message (send times in a ring of doubles indexed by
// sequence number, round trips in a typed array that doubles when full): the native baseline's
// own bookkeeping costs it next to nothing, so this side's must not be charged to the
// implementation under test either (garbage made here is collected on its time).

const { nowMs } = require('./util');

const LOSS_AFTER_MS = 200;
/** Send times kept, by sequence number modulo this: a message this far behind the newest is lost. */
const RING = 1 << 17;
const MASK = RING - 1;

/**
 * Returns `{ echoed(seq), done }`; `done` resolves with `{ rtts, sent, lost, refused, seconds }`
 * (round trips in ms of the messages echoed before the end) or rejects when `ctx.signal` aborts.
 */
function echoWindow(ctx, { seconds, window }, send) {
  const sentAt = new Float64Array(RING).fill(NaN); // NaN: not in flight
  let oldest = 0; // every message before it is echoed or lost
  let inFlight = 0;
  let rtts = new Float64Array(1 << 16);
  let echoes = 0;
  let seq = 0;
  let lost = 0;
  let refused = 0;
  let stopped = false;
  const start = nowMs();
  const stopAt = start + seconds * 1000;

  /** Counts as lost what is too old (by time, or by the ring's reach), and moves `oldest` past what is settled. */
  const expire = (now) => {
    while (oldest < seq) {
      const t = sentAt[oldest & MASK];
      if (Number.isNaN(t)) { oldest++; continue; }
      if (now - t <= LOSS_AFTER_MS && seq - oldest < RING) break;
      sentAt[oldest & MASK] = NaN;
      inFlight--;
      lost++;
      oldest++;
    }
  };
  const fill = () => {
    while (!stopped && inFlight < window) {
      if (seq - oldest >= RING) expire(nowMs());
      if (!send(seq)) { refused++; return; }
      sentAt[seq & MASK] = nowMs();
      inFlight++;
      seq++;
    }
  };
  const echoed = (s) => {
    if (s < oldest || s >= seq) return; // already counted lost
    const t = sentAt[s & MASK];
    if (Number.isNaN(t)) return;
    sentAt[s & MASK] = NaN;
    inFlight--;
    if (!stopped) {
      if (echoes === rtts.length) {
        const grown = new Float64Array(rtts.length * 2);
        grown.set(rtts);
        rtts = grown;
      }
      rtts[echoes++] = nowMs() - t;
    }
    fill();
  };
  const done = new Promise((resolve, reject) => {
    const onAbort = () => { clearInterval(tick); reject(ctx.signal.reason); };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const tick = setInterval(() => {
      const now = nowMs();
      expire(now);
      if (now >= stopAt) {
        stopped = true;
        clearInterval(tick);
        ctx.signal.removeEventListener('abort', onAbort);
        resolve({ rtts: Array.from(rtts.subarray(0, echoes)), sent: seq, lost, refused, seconds: (nowMs() - start) / 1000 });
      } else fill();
    }, 10);
    fill();
  });
  return { echoed, done };
}

module.exports = { echoWindow, LOSS_AFTER_MS };
