// Make unhandled promise rejections fail the test during which they happen
// instead of being swallowed (or crashing the worker with no attribution).
const unhandled: unknown[] = [];
const onUnhandledRejection = (reason: unknown): void => {
  unhandled.push(reason);
};
process.on('unhandledRejection', onUnhandledRejection);

afterEach(async () => {
  // Let rejections from the test's last tick be reported before checking.
  await new Promise((resolve) => setImmediate(resolve));
  if (unhandled.length > 0) {
    const reasons = unhandled.splice(0);
    const text = reasons
      .map((r) => (r instanceof Error ? r.stack ?? String(r) : String(r)))
      .join('\n---\n');
    throw new Error(`unhandled promise rejection(s) during this test:\n${text}`);
  }
});

afterAll(() => {
  process.off('unhandledRejection', onUnhandledRejection);
});
