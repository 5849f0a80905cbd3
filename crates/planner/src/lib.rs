#![doc = include_str!("../README.md")]

pub mod config;
pub mod economics;
mod error;
pub mod inputs;
pub mod io;
pub mod lost_sales;
mod lp;
pub mod plan;
pub mod service;
mod status;

pub use config::PlanConfig;
pub use error::{Error, Result};
pub use inputs::{PlanInputs, SkuInput, SkuParams};
pub use plan::{Economics, Plan, PlanStatus, PlanSummary, expected_demand, plan};
pub use service::{
    FillRateAllocation, allocate_fill_rate, economic_levels, lost_sales_safety_stock,
    protection_level, safety_stock,
};
