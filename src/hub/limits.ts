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
  /** The lock holder touches the lock this often; a lock untouched for staleLockMs has lost its owner. */
  lockHeartbeatMs: 10_000,
  staleLockMs: 120_000,
  lockPollMs: 250,
};
