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
        let start = Instant::now();
        result = f();
        best = best.min(start.elapsed());
    }
    (best, result)
}
