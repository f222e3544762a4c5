//! What the benchmarks share (a module directory, so that cargo does not take it for a
//! benchmark of its own).

use std::time::{Duration, Instant};

/// Runs `f` `runs` times (at least once); the shortest time, least disturbed by other
/// processes on a shared machine, and the last result.
pub fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let start = Instant::now();
    let mut result = f();
    let mut best = start.elapsed();
    for _ in 1..runs {
        // The previous result is freed before the clock starts: what is timed is `f`.
        drop(result);
        let start = Instant::now();
        result = f();
        best = best.min(start.elapsed());
    }
    (best, result)
}

/// As [`best_of`], timing the CPU time of the calling thread rather than the wall clock
/// (Linux: `/proc/thread-self/schedstat`), so that on a shared machine the figure is what
/// one core spends, not how long the scheduler kept it waiting. `None` where the kernel
/// does not say.
#[allow(dead_code)] // Not every benchmark uses it.
pub fn best_of_cpu<T>(runs: usize, mut f: impl FnMut() -> T) -> (Option<Duration>, T) {
    let mut best: Option<Duration> = None;
    let mut result = None;
    for _ in 0..runs.max(1) {
        // The previous result is freed before the clock starts: what is timed is `f`.
        drop(result.take());
        let start = thread_cpu_time();
        result = Some(f());
        let spent = start
            .zip(thread_cpu_time())
            .map(|(a, b)| b.saturating_sub(a));
        best = match (best, spent) {
            (Some(b), Some(s)) => Some(b.min(s)),
            (None, s) => s,
            (b, None) => b,
        };
    }
    (best, result.expect("ran at least once"))
}

/// CPU time of the calling thread so far.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}
