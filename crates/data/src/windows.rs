//! Training windows: (context, horizon) slices of every SKU's series, addressed by index and
//! filled batch by batch into reusable buffers, never materialised for the whole catalogue.

use rand::Rng;
use restock_core::Week;

use crate::features::{FeatureSchema, PlanInput, SkuFeatures};
use crate::weekly::WeeklyDataset;
use crate::{Error, Result};

/// Window geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Weeks of history the model sees, >= 1.
    pub context: usize,
    /// Weeks it forecasts, >= 1.
    pub horizon: usize,
    /// Fewest real (unpadded) history weeks a window may have, 1..=context. Shorter contexts are
    /// left-padded with zeros and a mask, so new launches still train.
    pub min_context: usize,
    /// Scale each window by `1 + mean` of its own real context weeks instead of the SKU's
    /// fitted scale: the network then reads demand relative to its recent level, which follows
    /// level shifts (seasonal ramps, growth) that a long-run mean lags.
    pub context_scale: bool,
}

impl WindowSpec {
    /// A checked spec.
    pub fn new(context: usize, horizon: usize, min_context: usize) -> Result<Self> {
        if context == 0 || horizon == 0 {
            return Err(Error::Param {
                name: "window",
                message: format!("context and horizon must be >= 1, got {context} and {horizon}"),
            });
        }
        if min_context == 0 || min_context > context {
            return Err(Error::Param {
                name: "min_context",
                message: format!("must be between 1 and context ({context}), got {min_context}"),
            });
        }
        Ok(WindowSpec {
            context,
            horizon,
            min_context,
            context_scale: false,
        })
    }

    /// The same spec with per-window context scaling on or off.
    pub fn with_context_scale(self, on: bool) -> Self {
        WindowSpec {
            context_scale: on,
            ..self
        }
    }
}

/// One batch of windows, row-major buffers reused between batches.
#[derive(Debug, Clone, Default)]
pub struct WindowBatch {
    /// Rows filled.
    pub len: usize,
    /// `[batch, context]` scaled past demand (y / scale), 0 where padded.
    pub past_y: Vec<f32>,
    /// `[batch, context, features]` past features.
    pub past_x: Vec<f32>,
    /// `[batch, context]` 1 for real weeks, 0 for padding.
    pub past_mask: Vec<f32>,
    /// `[batch, horizon, known features]` features known for the future weeks.
    pub future_x: Vec<f32>,
    /// `[batch, horizon]` scaled future demand (the target).
    pub future_y: Vec<f32>,
    /// `[batch, statics]` static ids.
    pub statics: Vec<u32>,
    /// `[batch]` the scale of each row's SKU.
    pub scale: Vec<f32>,
    /// `[batch]` the SKU index of each row.
    pub sku: Vec<u32>,
    /// `[batch]` index of the first target week within the SKU's series.
    pub start: Vec<u32>,
}

impl WindowBatch {
    /// The filled rows of `parts`, in order, as one batch (each part's buffers may be longer
    /// than its rows). `sku` keeps each part's own numbering.
    pub fn concat(parts: Vec<WindowBatch>) -> WindowBatch {
        let rows: usize = parts.iter().map(|p| p.len).sum();
        let mut out = WindowBatch {
            len: rows,
            past_y: Vec::new(),
            past_x: Vec::new(),
            past_mask: Vec::new(),
            future_x: Vec::new(),
            future_y: Vec::new(),
            statics: Vec::new(),
            scale: Vec::with_capacity(rows),
            sku: Vec::with_capacity(rows),
            start: Vec::with_capacity(rows),
        };
        for p in parts.into_iter().filter(|p| p.len > 0) {
            // Row widths from the buffers' capacity in rows.
            let cap = p.scale.len();
            let n = p.len;
            let filled = |v: &[f32]| v[..v.len() / cap * n].to_vec();
            out.past_y.extend(filled(&p.past_y));
            out.past_x.extend(filled(&p.past_x));
            out.past_mask.extend(filled(&p.past_mask));
            out.future_x.extend(filled(&p.future_x));
            out.future_y.extend(filled(&p.future_y));
            out.statics
                .extend_from_slice(&p.statics[..p.statics.len() / cap * n]);
            out.scale.extend_from_slice(&p.scale[..n]);
            out.sku.extend_from_slice(&p.sku[..n]);
            out.start.extend_from_slice(&p.start[..n]);
        }
        out
    }
}

/// All windows whose target weeks end on or before a cut-off week.
pub struct Windows<'a> {
    ds: &'a WeeklyDataset,
    feats: &'a [SkuFeatures],
    spec: WindowSpec,
    n_feat: usize,
    known: Vec<usize>,
    n_static: usize,
    /// `prefix[i]` = windows of SKUs before `i`.
    prefix: Vec<usize>,
}

impl<'a> Windows<'a> {
    /// Windows over `ds` whose last target week is <= `until` (the train/validation split).
    pub fn new(
        ds: &'a WeeklyDataset,
        feats: &'a [SkuFeatures],
        schema: &FeatureSchema,
        spec: WindowSpec,
        until: Week,
    ) -> Self {
        let mut prefix = Vec::with_capacity(ds.series.len() + 1);
        let mut total = 0;
        prefix.push(0);
        for s in &ds.series {
            let usable = ((s.start.weeks_until(until) + 1).max(0) as usize).min(s.y.len());
            // first target index e ranges over min_context ..= usable - horizon
            let n = (usable + 1).saturating_sub(spec.horizon + spec.min_context);
            total += n;
            prefix.push(total);
        }
        Windows {
            ds,
            feats,
            spec,
            n_feat: schema.len(),
            known: schema.known_indices(),
            n_static: schema.statics.len(),
            prefix,
        }
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        *self.prefix.last().unwrap_or(&0)
    }

    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(sku index, first target index)` of window `i`.
    pub fn locate(&self, i: usize) -> (usize, usize) {
        let sku = self.prefix.partition_point(|&p| p <= i) - 1;
        (sku, self.spec.min_context + (i - self.prefix[sku]))
    }

    /// The window of SKU `sku` whose first target is the SKU's week `e`, if it exists.
    pub fn index_of(&self, sku: usize, e: usize) -> Option<usize> {
        let first = self.prefix[sku];
        let count = self.prefix[sku + 1] - first;
        let offset = e.checked_sub(self.spec.min_context)?;
        (offset < count).then_some(first + offset)
    }

    /// A batch buffer sized for `batch` rows.
    pub fn new_batch(&self, batch: usize) -> WindowBatch {
        let (c, h) = (self.spec.context, self.spec.horizon);
        WindowBatch {
            len: 0,
            past_y: vec![0.0; batch * c],
            past_x: vec![0.0; batch * c * self.n_feat],
            past_mask: vec![0.0; batch * c],
            future_x: vec![0.0; batch * h * self.known.len()],
            future_y: vec![0.0; batch * h],
            statics: vec![0; batch * self.n_static],
            scale: vec![0.0; batch],
            sku: vec![0; batch],
            start: vec![0; batch],
        }
    }

    /// Fill `out` with the windows `indices` (at most its capacity).
    pub fn fill(&self, indices: &[usize], out: &mut WindowBatch) {
        let (c, h, f, k) = (
            self.spec.context,
            self.spec.horizon,
            self.n_feat,
            self.known.len(),
        );
        let cap = out.scale.len();
        out.len = indices.len().min(cap);
        for (row, &i) in indices.iter().take(cap).enumerate() {
            let (sku, e) = self.locate(i);
            let s = &self.ds.series[sku];
            let feat = &self.feats[sku];
            let scale = if self.spec.context_scale {
                let first = e.saturating_sub(c);
                let n = (e - first).max(1) as f64;
                1.0 + s.y[first..e].iter().sum::<f64>() / n
            } else {
                feat.scale.scale
            };
            for j in 0..c {
                let t = e as isize - c as isize + j as isize;
                let (py, px, pm) = (
                    &mut out.past_y[row * c + j],
                    row * c * f + j * f,
                    &mut out.past_mask[row * c + j],
                );
                if t >= 0 {
                    let t = t as usize;
                    *py = (s.y[t] / scale) as f32;
                    *pm = 1.0;
                    out.past_x[px..px + f].copy_from_slice(&feat.x[t * f..(t + 1) * f]);
                } else {
                    *py = 0.0;
                    *pm = 0.0;
                    out.past_x[px..px + f].iter_mut().for_each(|v| *v = 0.0);
                }
            }
            for j in 0..h {
                let t = e + j;
                out.future_y[row * h + j] = (s.y[t] / scale) as f32;
                for (q, &fi) in self.known.iter().enumerate() {
                    out.future_x[row * h * k + j * k + q] = feat.x[t * f + fi];
                }
            }
            out.statics[row * self.n_static..(row + 1) * self.n_static]
                .copy_from_slice(&feat.static_ids);
            out.scale[row] = scale as f32;
            out.sku[row] = sku as u32;
            out.start[row] = e as u32;
        }
    }

    /// Hide plan inputs of the filled rows of `out`, as in a forecast made without (all of) the
    /// plan: with probability `rate` all of a row's inputs, otherwise each input alone with
    /// probability `rate / 2`. A hidden input's future features take their values for "unknown"
    /// and its flag 0 (see `features`, "Plan inputs"); past weeks are never hidden.
    pub fn hide_plan(
        &self,
        out: &mut WindowBatch,
        inputs: &[PlanInput],
        rate: f64,
        rng: &mut impl Rng,
    ) {
        if inputs.is_empty() || rate <= 0.0 {
            return;
        }
        let (h, k) = (self.spec.horizon, self.known.len());
        for row in 0..out.len {
            let all = rng.random::<f64>() < rate;
            for input in inputs {
                if !(all || rng.random::<f64>() < rate / 2.0) {
                    continue;
                }
                for j in 0..h {
                    let week = &mut out.future_x[row * h * k + j * k..row * h * k + (j + 1) * k];
                    week[input.flag] = 0.0;
                    for &(f, unknown) in &input.features {
                        week[f] = unknown;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `rows` filled rows out of `capacity`, every value its row number + `base`.
    fn batch(rows: usize, capacity: usize, base: f32) -> WindowBatch {
        let (c, f, h, k, s) = (3, 2, 2, 1, 1);
        let fill = |width: usize| -> Vec<f32> {
            (0..capacity * width)
                .map(|i| {
                    if i / width < rows {
                        base + (i / width) as f32
                    } else {
                        -1.0
                    }
                })
                .collect()
        };
        WindowBatch {
            len: rows,
            past_y: fill(c),
            past_x: fill(c * f),
            past_mask: fill(c),
            future_x: fill(h * k),
            future_y: fill(h),
            statics: (0..capacity * s).map(|i| i as u32).collect(),
            scale: fill(1),
            sku: (0..capacity as u32).collect(),
            start: vec![0; capacity],
        }
    }

    #[test]
    fn concat_keeps_the_filled_rows_in_order() {
        let joined = WindowBatch::concat(vec![
            batch(2, 4, 0.0),
            batch(0, 3, 50.0),
            batch(1, 2, 100.0),
        ]);
        assert_eq!(joined.len, 3);
        assert_eq!(joined.scale, vec![0.0, 1.0, 100.0]);
        assert_eq!(
            joined.past_y,
            vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 100.0, 100.0, 100.0]
        );
        assert_eq!(joined.past_x.len(), 3 * 6);
        assert_eq!(joined.future_y, vec![0.0, 0.0, 1.0, 1.0, 100.0, 100.0]);
        assert_eq!(joined.statics, vec![0, 1, 0]);
        assert_eq!(joined.sku, vec![0, 1, 0]);
        assert!(
            joined.past_mask.iter().all(|v| *v >= 0.0),
            "no unfilled row"
        );
    }
}
