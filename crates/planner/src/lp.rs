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

    /// Solve with `solver` within `time_limit` seconds. A MIP stops at the relative gap
    /// `mip_gap` on HiGHS; microlp has no gap setting and solves it to optimality, which meets
    /// any gap (its `Optimal` status is then exact).
    pub(crate) fn solve(
        &self,
        solver: SolverKind,
        time_limit: f64,
        mip_gap: f64,
    ) -> Result<LpSolution> {
        self.solve_inner(solver, time_limit, mip_gap, false)
            .map(|(sol, _)| sol)
    }

    /// Solve a continuous problem with a solver that gives row duals
    /// ([`SolverKind::has_duals`]): the solution and each row's dual, in row order. An error for
    /// a solver without duals or a problem with integer columns, rather than a solution
    /// without them.
    pub(crate) fn solve_with_duals(
        &self,
        solver: SolverKind,
        time_limit: f64,
    ) -> Result<(LpSolution, Vec<f64>)> {
        let refuse = |message: &str| Error::Solver {
            solver: solver.as_str().into(),
            message: message.into(),
        };
        if !solver.has_duals() {
            return Err(refuse("gives no row duals (use its dual LP instead)"));
        }
        if self.has_integers() {
            return Err(refuse("a problem with integer columns has no row duals"));
        }
        let (sol, duals) = self.solve_inner(solver, time_limit, 0.0, true)?;
        let duals = duals.ok_or_else(|| refuse("returned no row duals"))?;
        Ok((sol, duals))
    }

    fn solve_inner(
        &self,
        solver: SolverKind,
        time_limit: f64,
        mip_gap: f64,
        duals: bool,
    ) -> Result<(LpSolution, Option<Vec<f64>>)> {
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
                let objective = self.objective_of(&x);
                Ok((
                    LpSolution {
                        objective,
                        x,
                        status,
                    },
                    d,
                ))
            }
            SolverKind::Microlp => {
                let mut model = problem.using(microlp).with_time_limit(time_limit);
                for c in rows {
                    model.add_constraint(c);
                }
                let sol = model.solve().map_err(fail)?;
                let status = status_of(sol.status());
                let x: Vec<f64> = v.iter().map(|x| sol.value(*x)).collect();
                let objective = self.objective_of(&x);
                Ok((
                    LpSolution {
                        objective,
                        x,
                        status,
                    },
                    None,
                ))
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
            let s = lp.solve(solver, 10.0, 0.0).unwrap();
            assert!((s.objective + 3.0).abs() < 1e-6, "{solver:?} {s:?}");
            // Duals of a MIP, or from microlp, are refused, not left out.
            let err = lp.solve_with_duals(solver, 10.0).unwrap_err().to_string();
            assert!(err.contains("duals"), "{err}");
            lp.cols.iter_mut().for_each(|c| c.integer = false);
            let r = lp.solve(solver, 10.0, 0.0).unwrap();
            assert!((r.objective + 3.5).abs() < 1e-6);
            assert_eq!(
                lp.solve_with_duals(solver, 10.0).is_ok(),
                solver.has_duals()
            );
        }
    }

    #[test]
    fn highs_duals_price_a_binding_row() {
        // min -2x, x <= 4 -> dual of the row is -2 (one more unit saves 2).
        let mut lp = Lp::default();
        let x = lp.col(0.0, f64::INFINITY, -2.0, false);
        lp.row(vec![(x, 1.0)], Sense::Le, 4.0);
        let (_, duals) = lp.solve_with_duals(SolverKind::Highs, 10.0).unwrap();
        let d = duals[0];
        assert!((d.abs() - 2.0).abs() < 1e-9, "{d}");
    }
}
