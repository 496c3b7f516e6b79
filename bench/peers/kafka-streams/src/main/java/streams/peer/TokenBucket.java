package streams.peer;

/**
 * The app's IM request budget: {@code rate} tokens a second, at most one stored, so requests are
 * paced evenly and no fixed one-second bucket of the server sees more than rate + 1. Shared by
 * every task of the process.
 */
final class TokenBucket {
  private final double ratePerNano;
  private double tokens = 1.0;
  private long last = System.nanoTime();

  TokenBucket(double ratePerSecond) {
    this.ratePerNano = ratePerSecond / 1e9;
  }

  /** Blocks until a token is available and takes it. */
  void acquire() throws InterruptedException {
    long waitNanos;
    synchronized (this) {
      long now = System.nanoTime();
      tokens = Math.min(1.0, tokens + (now - last) * ratePerNano);
      last = now;
      tokens -= 1.0;
      // A negative balance is this caller's place in the queue: it waits for it to refill.
      waitNanos = tokens >= 0 ? 0 : (long) (-tokens / ratePerNano);
    }
    if (waitNanos > 0) {
      Thread.sleep(waitNanos / 1_000_000, (int) (waitNanos % 1_000_000));
    }
  }
}
