//! What the trainer reports while it works: the [`Observer`] the CLI draws its progress from,
//! and [`Silent`] for callers that want none.

use crate::run::EpochMetrics;

/// What the trainer reports while it works (the CLI draws progress bars from it).
pub trait Observer {
    /// A message line (backend chosen, data loaded...).
    fn message(&mut self, text: &str);
    /// Something the user should act on (an input the job read in a way it may not expect):
    /// by default a message; an observer that is quiet about progress still shows it.
    fn warning(&mut self, text: &str) {
        self.message(&format!("warning: {text}"));
    }
    /// An epoch starts with `steps` optimiser steps.
    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize);
    /// A step ended with this loss.
    fn step(&mut self, step: usize, loss: f64);
    /// An epoch ended.
    fn epoch_end(&mut self, metrics: &EpochMetrics, best: bool);
}

/// An observer that reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn message(&mut self, _text: &str) {}
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    fn step(&mut self, _step: usize, _loss: f64) {}
    fn epoch_end(&mut self, _metrics: &EpochMetrics, _best: bool) {}
}
