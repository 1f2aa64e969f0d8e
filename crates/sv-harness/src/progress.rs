//! Progress reporting: an indicatif bar on stderr with rate, ETA and the running mean
//! reward, or nothing.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives progress events from a run.
pub trait Progress: Send + Sync {
    /// A run starts: `total` rollouts of which `done` are already in the file (resume).
    fn start(&self, label: &str, total: u64, done: u64);
    fn row(&self, reward: f64, error: bool);
    fn finish(&self);
}

/// No output.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64, _: u64) {}
    fn row(&self, _: f64, _: bool) {}
    fn finish(&self) {}
}

/// A bar on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
pub struct Bar {
    state: Mutex<BarState>,
}

#[derive(Default)]
struct BarState {
    bar: Option<ProgressBar>,
    rows: u64,
    errors: u64,
    reward_sum: f64,
}

impl Bar {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Progress for Bar {
    fn start(&self, label: &str, total: u64, done: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        bar.set_position(done);
        bar.reset_eta();
        if let Ok(mut s) = self.state.lock() {
            *s = BarState {
                bar: Some(bar),
                ..BarState::default()
            };
        }
    }

    fn row(&self, reward: f64, error: bool) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        s.rows += 1;
        s.errors += u64::from(error);
        s.reward_sum += reward;
        let (n, e, mean) = (s.rows, s.errors, s.reward_sum / s.rows as f64);
        if let Some(bar) = s.bar.as_ref() {
            bar.inc(1);
            // Formatting the message costs more than the rest of a cheap rollout.
            if n % 64 == 1 || Some(bar.position()) == bar.length() {
                bar.set_message(format!(
                    "mean reward {mean:.4}{}",
                    if e > 0 {
                        format!(" errors {e}")
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(bar) = s.bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}
