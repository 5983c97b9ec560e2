// The echo benchmarks' window (bench/lib/echo-window.js): it keeps `window`
// messages in flight, times each echo, counts a message not back within
// 200 ms as lost (freeing its slot), and counts refused sends.
const { echoWindow, LOSS_AFTER_MS } = require('../bench/lib/echo-window') as {
  echoWindow: (
    ctx: { signal: AbortSignal },
    cfg: { seconds: number; window: number },
    send: (seq: number) => boolean,
  ) => { echoed(seq: number): void; done: Promise<{ rtts: number[]; sent: number; lost: number; refused: number; seconds: number }> };
  LOSS_AFTER_MS: number;
};

describe('bench echo window', () => {
  test('times the echoes, keeps the window, counts unanswered messages lost and refused sends', async () => {
    const ac = new AbortController();
    let inFlight = 0;
    let most = 0;
    let refusals = 0;
    const flight = echoWindow({ signal: ac.signal }, { seconds: 0.6, window: 8 }, (seq) => {
      // Every 5th send is refused once (a full queue), every 7th message is never answered.
      if (seq % 5 === 2 && refusals < seq) {
        refusals = seq;
        return false;
      }
      inFlight++;
      most = Math.max(most, inFlight);
      if (seq % 7 !== 3) {
        setTimeout(() => {
          inFlight--;
          flight.echoed(seq);
          flight.echoed(seq); // a duplicate echo counts once
        }, 2);
      }
      return true;
    });
    const r = await flight.done;
    expect(LOSS_AFTER_MS).toBe(200);
    expect(most).toBeLessThanOrEqual(8 + Math.ceil(r.sent / 7)); // unanswered ones stay in flight until lost
    expect(r.sent).toBeGreaterThan(50);
    expect(r.refused).toBeGreaterThan(0);
    // Each unanswered message is lost once 200 ms have passed; the last ones may still be pending.
    const unanswered = Math.floor((r.sent + 3) / 7);
    expect(r.lost).toBeGreaterThan(0);
    expect(r.lost).toBeLessThanOrEqual(unanswered);
    expect(r.rtts.length + r.lost).toBeLessThanOrEqual(r.sent);
    expect(r.rtts.length).toBeGreaterThan(r.sent / 2);
    for (const rtt of r.rtts) {
      expect(rtt).toBeGreaterThan(0);
      expect(rtt).toBeLessThan(LOSS_AFTER_MS);
    }
  });

  test('rejects when the signal aborts', async () => {
    const ac = new AbortController();
    const flight = echoWindow({ signal: ac.signal }, { seconds: 30, window: 4 }, () => true);
    ac.abort(new Error('stop'));
    await expect(flight.done).rejects.toThrow('stop');
  });
});
