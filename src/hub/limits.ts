/**
 * The downloader's timings and retry counts in one place. Tests shorten them through `HUB_LIMITS` (not exported
 * from the library's entry) to exercise timeouts in milliseconds rather than minutes.
 */
export const HUB_LIMITS = {
  /** How long a download may receive nothing before the connection is dropped and resumed. */
  stallTimeoutMs: 60_000,
  /** Attempts per file when the connection drops, waiting 0.25 s, 0.5 s, 1 s, 2 s between them. */
  maxAttempts: 5,
  retryBaseMs: 250,
  /**
   * Each file must arrive within fileDeadlineBaseMs plus 1 s per minBytesPerSecond of its size (retries
   * included): 2 minutes plus 50 s per MB, i.e. about 14 hours for 1 GB. Ends bodies that trickle in forever.
   */
  fileDeadlineBaseMs: 120_000,
  minBytesPerSecond: 20_000,
  /** The lock holder touches the lock this often; a lock untouched for staleLockMs has lost its owner. */
  lockHeartbeatMs: 10_000,
  staleLockMs: 120_000,
  lockPollMs: 250,
  /** How long a process waits for another one's lock before giving up (LOCK_TIMEOUT). */
  lockTimeoutMs: 60 * 60_000,
  /** A lock-change marker this old was left by a process that died in the milliseconds a change takes. */
  staleMarkerMs: 60_000,
};
