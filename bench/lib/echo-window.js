'use strict';
// A window of numbered messages in flight, for echo benchmarks (datagram, udp-gateway): for
// `seconds`, keep `window` messages out; `send(seq)` sends one (false: it could not, e.g. a full
// queue; retried on the next echo or tick); the caller reports each echo with `echoed(seq)`. A
// message not back within 200 ms is counted lost and frees its slot.

const { nowMs } = require('./util');

const LOSS_AFTER_MS = 200;

/**
 * Returns `{ echoed(seq), done }`; `done` resolves with `{ rtts, sent, lost, refused, seconds }`
 * (round trips in ms of the messages echoed before the end) or rejects when `ctx.signal` aborts.
 */
function echoWindow(ctx, { seconds, window }, send) {
  const sentAt = new Map(); // seq -> ms, oldest first
  const rtts = [];
  let seq = 0;
  let lost = 0;
  let refused = 0;
  let stopped = false;
  const start = nowMs();
  const stopAt = start + seconds * 1000;

  const fill = () => {
    while (!stopped && sentAt.size < window) {
      if (!send(seq)) { refused++; return; }
      sentAt.set(seq, nowMs());
      seq++;
    }
  };
  const echoed = (s) => {
    const t = sentAt.get(s);
    if (t === undefined) return; // already counted lost
    sentAt.delete(s);
    if (!stopped) rtts.push(nowMs() - t);
    fill();
  };
  const done = new Promise((resolve, reject) => {
    const onAbort = () => { clearInterval(tick); reject(ctx.signal.reason); };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const tick = setInterval(() => {
      const now = nowMs();
      for (const [s, t] of sentAt) {
        if (now - t <= LOSS_AFTER_MS) break;
        sentAt.delete(s);
        lost++;
      }
      if (now >= stopAt) {
        stopped = true;
        clearInterval(tick);
        ctx.signal.removeEventListener('abort', onAbort);
        resolve({ rtts, sent: seq, lost, refused, seconds: (nowMs() - start) / 1000 });
      } else fill();
    }, 10);
    fill();
  });
  return { echoed, done };
}

module.exports = { echoWindow, LOSS_AFTER_MS };
