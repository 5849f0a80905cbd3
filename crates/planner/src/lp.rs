//! A small LP/MILP description, translated to good_lp for HiGHS or microlp. Keeping our own copy of
//! the model lets the planner price its shared rows (Lagrangian relaxation), value a plan's columns
//! without a solver, and report which rows bind.

use good_lp::DualValues;
use good_lp::solvers::highs::highs;
use good_lp::solvers::microlp::microlp;
use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution, SolutionStatus, SolutionWithDual,
    SolverModel, Variable, WithTimeLimit, constraint, variable,
};

use crate::config::SolverKind;
use crate::status::PlanStatus;
use crate::{Error, Result};

/// A column: bounds, objective coefficient, integrality.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    pub lo: f64,
    pub hi: f64,
    pub cost: f64,
    pub integer: bool,
}

/// The sense of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sense {
    Le,
    Ge,
    Eq,
}

/// A row `sum(coef * x) <sense> rhs`.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub coefs: Vec<(usize, f64)>,
    pub sense: Sense,
    pub rhs: f64,
}

/// A minimisation problem.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lp {
    pub cols: Vec<Col>,
    pub rows: Vec<Row>,
}

/// A solution.
#[derive(Debug, Clone)]
pub(crate) struct LpSolution {
    pub x: Vec<f64>,
    pub objective: f64,
    /// Row duals (HiGHS, continuous problems only).
    pub duals: Option<Vec<f64>>,
    /// `optimal`, or `time_limit` / `gap_limit` when stopped early with a feasible plan.
    pub status: PlanStatus,
}

impl Lp {
    pub(crate) fn col(&mut self, lo: f64, hi: f64, cost: f64, integer: bool) -> usize {
        self.cols.push(Col {
            lo,
            hi,
            cost,
            integer,
        });
        self.cols.len() - 1
    }

    pub(crate) fn row(&mut self, coefs: Vec<(usize, f64)>, sense: Sense, rhs: f64) -> usize {
        self.rows.push(Row { coefs, sense, rhs });
        self.rows.len() - 1
    }

    pub(crate) fn has_integers(&self) -> bool {
        self.cols.iter().any(|c| c.integer)
    }

    pub(crate) fn objective_of(&self, x: &[f64]) -> f64 {
        self.cols.iter().zip(x).map(|(c, v)| c.cost * v).sum()
    }

    /// Solve with `solver`; `duals` asks HiGHS for row duals (continuous problems).
    pub(crate) fn solve(
        &self,
        solver: SolverKind,
        time_limit: f64,
        mip_gap: f64,
        duals: bool,
    ) -> Result<LpSolution> {
        let mut vars = ProblemVariables::new();
        let v: Vec<Variable> = self
            .cols
            .iter()
            .map(|c| {
                let mut def = variable().min(c.lo);
                if c.hi.is_finite() {
                    def = def.max(c.hi);
                }
                if c.integer {
                    def = def.integer();
                }
                vars.add(def)
            })
            .collect();
        let objective: Expression = self
            .cols
            .iter()
            .zip(&v)
            .filter(|(c, _)| c.cost != 0.0)
            .map(|(c, x)| c.cost * *x)
            .sum();
        let rows: Vec<good_lp::Constraint> = self
            .rows
            .iter()
            .map(|r| {
                let e: Expression = r.coefs.iter().map(|(i, a)| *a * v[*i]).sum();
                match r.sense {
                    Sense::Le => constraint!(e <= r.rhs),
                    Sense::Ge => constraint!(e >= r.rhs),
                    Sense::Eq => constraint!(e == r.rhs),
                }
            })
            .collect();
        let fail = |e: ResolutionError| Error::Solver {
            solver: solver.as_str().into(),
            message: e.to_string(),
        };
        let status_of = |s: SolutionStatus| match s {
            SolutionStatus::Optimal => PlanStatus::Optimal,
            SolutionStatus::TimeLimit => PlanStatus::TimeLimit,
            SolutionStatus::GapLimit => PlanStatus::GapLimit,
        };
        let problem = vars.minimise(objective);
        match solver {
            SolverKind::Highs => {
                let mut model = problem
                    .using(highs)
                    .set_time_limit(time_limit)
                    .set_threads(1);
                model.set_verbose(std::env::var_os("RESTOCK_SOLVER_LOG").is_some());
                if self.has_integers() {
                    model = model
                        .set_mip_rel_gap(mip_gap as f32)
                        .map_err(|e| Error::Solver {
                            solver: "highs".into(),
                            message: e.to_string(),
                        })?;
                }
                let refs: Vec<_> = rows.into_iter().map(|c| model.add_constraint(c)).collect();
                let mut sol = model.solve().map_err(fail)?;
                let status = status_of(sol.status());
                let x: Vec<f64> = v.iter().map(|x| sol.value(*x)).collect();
                let d = if duals && !self.has_integers() {
                    let dual = sol.compute_dual();
                    Some(refs.iter().map(|r| dual.dual(r.clone())).collect())
                } else {
                    None
                };
                Ok(LpSolution {
                    objective: self.objective_of(&x),
                    x,
                    duals: d,
                    status,
                })
            }
            SolverKind::Microlp => {
                let mut model = problem.using(microlp).with_time_limit(time_limit);
                for c in rows {
                    model.add_constraint(c);
                }
                let sol = model.solve().map_err(fail)?;
                let status = status_of(sol.status());
                let x: Vec<f64> = v.iter().map(|x| sol.value(*x)).collect();
                Ok(LpSolution {
                    objective: self.objective_of(&x),
                    x,
                    duals: None,
                    status,
                })
            }
        }
    }
}

/// LP solves (master problems, branch and bound's relaxations aside) run to completion: they are
/// polynomial, and a plan stopped early is not one. The configured time limit is for the
/// Lagrangian price search and the start of column-generation rounds.
pub(crate) const LP_TIME: f64 = 1e7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_milp_on_both_solvers() {
        // min -x - y, x + y <= 3.5, x <= 2, x, y integer >= 0 -> objective -3.
        for solver in [SolverKind::Highs, SolverKind::Microlp] {
            let mut lp = Lp::default();
            let x = lp.col(0.0, 2.0, -1.0, true);
            let y = lp.col(0.0, f64::INFINITY, -1.0, true);
            lp.row(vec![(x, 1.0), (y, 1.0)], Sense::Le, 3.5);
            let s = lp.solve(solver, 10.0, 0.0, false).unwrap();
            assert!((s.objective + 3.0).abs() < 1e-6, "{solver:?} {s:?}");
            lp.cols.iter_mut().for_each(|c| c.integer = false);
            let r = lp.solve(solver, 10.0, 0.0, true).unwrap();
            assert!((r.objective + 3.5).abs() < 1e-6);
        }
    }

    #[test]
    fn highs_duals_price_a_binding_row() {
        // min -2x, x <= 4 -> dual of the row is -2 (one more unit saves 2).
        let mut lp = Lp::default();
        let x = lp.col(0.0, f64::INFINITY, -2.0, false);
        lp.row(vec![(x, 1.0)], Sense::Le, 4.0);
        let s = lp.solve(SolverKind::Highs, 10.0, 0.0, true).unwrap();
        let d = s.duals.unwrap()[0];
        assert!((d.abs() - 2.0).abs() < 1e-9, "{d}");
    }
}
