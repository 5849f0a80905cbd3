//! Progress reporting that stays readable in CI logs: an indicatif spinner/bar on a terminal, plain
//! timestamped lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports the stages of one command.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    quiet: bool,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        Progress {
            bar: None,
            started: Instant::now(),
            quiet,
        }
    }

    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    fn tty() -> bool {
        std::io::stderr().is_terminal()
    }

    /// Start a stage without a known amount of work.
    pub(crate) fn stage(&mut self, msg: &str) {
        self.finish_bar();
        if self.quiet {
            return;
        }
        if Self::tty() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(style("{spinner} [{elapsed_precise}] {msg}"));
            bar.set_message(msg.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        } else {
            eprintln!("[{:>7.1}s] {msg}", self.started.elapsed().as_secs_f64());
        }
    }

    /// Start a stage of `len` items; returns a handle to advance.
    pub(crate) fn counter(&mut self, msg: &str, len: u64) -> Counter {
        self.finish_bar();
        if self.quiet {
            return Counter {
                bar: None,
                len,
                done: 0,
                last_print: Instant::now(),
                msg: msg.into(),
            };
        }
        if Self::tty() {
            let bar = ProgressBar::new(len);
            bar.set_style(style(
                "{msg} [{elapsed_precise}] {bar:40} {pos}/{len} ({per_sec}, eta {eta})",
            ));
            bar.set_message(msg.to_string());
            self.bar = Some(bar.clone());
            Counter {
                bar: Some(bar),
                len,
                done: 0,
                last_print: Instant::now(),
                msg: msg.into(),
            }
        } else {
            eprintln!(
                "[{:>7.1}s] {msg}: 0/{len}",
                self.started.elapsed().as_secs_f64()
            );
            Counter {
                bar: None,
                len,
                done: 0,
                last_print: Instant::now(),
                msg: msg.into(),
            }
        }
    }

    fn finish_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// End the last stage and print `msg`.
    pub(crate) fn done(&mut self, msg: &str) {
        self.finish_bar();
        if !self.quiet {
            eprintln!("[{:>7.1}s] {msg}", self.started.elapsed().as_secs_f64());
        }
    }
}

/// Advances a counted stage; prints every 10 s when not on a terminal.
pub(crate) struct Counter {
    bar: Option<ProgressBar>,
    len: u64,
    done: u64,
    last_print: Instant,
    msg: String,
}

impl Counter {
    /// Set the position to `done`.
    pub(crate) fn set(&mut self, done: u64) {
        let n = done.saturating_sub(self.done);
        self.inc(n);
    }

    pub(crate) fn inc(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n);
        } else if self.last_print.elapsed() > Duration::from_secs(10) {
            eprintln!("    {}: {}/{}", self.msg, self.done, self.len);
            self.last_print = Instant::now();
        }
    }
}

/// A progress-bar style from an indicatif template; indicatif's default bar if the template is
/// rejected (a display detail is no reason to stop a job).
pub(crate) fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}
