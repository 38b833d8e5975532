// The numbers placement (lib/runtime/placement) decides by, and why each
// is what it is: how much evidence moves a model version between the main
// thread and the worker threads, and how far a single request may go.

/** The rows a calibration run of warm-up has, to learn how a run's cost grows with its size. */
export const CALIBRATION_ROWS = 16
/**
 * A single request predicted to take this many times the bound goes to the
 * workers whatever the placement: large enough that the line's noise never
 * sends an ordinary batch there, small enough that no request holds the
 * loop for more than a few milliseconds.
 */
export const ONE_REQUEST_FACTOR = 10
/** Such a request predicted past this many times the bound waits for the workers to open rather than run inline. */
export const WAIT_FACTOR = 100
/** Runs in a row above the bound that move a version to the workers: one slow run (a preempted thread) moves nothing. */
export const SLOW_RUNS_TO_MOVE = 3
/**
 * ...for this long. When load starts, V8 compiles the hot paths, on the
 * main thread and on a thread of the same core: the bundled iris's runs
 * measured 2.5 to 4 ms each, on the wall clock and in the process's CPU time
 * alike, for a fraction of a second, and the version moved to a worker
 * where it cost twice the CPU. A version truly above the bound keeps its
 * runs there, each below ten times the bound (ONE_REQUEST_FACTOR), so the
 * loop stays responsive while the streak lasts.
 */
export const SLOW_STREAK_MS = 1000
/** Measured warm-up runs: the fastest counts, the first runs of cold code being slower than the model. */
export const WARM_UP_RUNS = 3
/** Runs in a row below half the bound that bring it back. */
export const FAST_RUNS_TO_RETURN = 50
/**
 * A worker's run on a core the main thread shares takes longer on the wall
 * clock than it costs (the main thread preempts it), so a version moved out
 * might never measure fast enough there to come back: every this many ms it
 * runs one batch on the main thread instead, and PROBES_TO_RETURN of those
 * in a row below half the bound bring it back.
 */
export const PROBE_INTERVAL_MS = 5000
export const PROBES_TO_RETURN = 3
