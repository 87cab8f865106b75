//! `agentops bench …`: measurements of the platform's own code paths, run against a
//! throwaway PostgreSQL database on this machine. Each benchmark prints its figures for
//! people and, with `--json`, one JSON object per run as the last lines for scripts.
//!
//! Benchmarks are not tests: they assert nothing beyond the correctness of what they
//! measured (every task completed exactly once) and never run in CI.

pub mod claim;
pub mod fanout_baseline;
pub mod process;

/// `value` rounded to two decimals, for reports.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
