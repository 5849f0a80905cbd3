//! `restock`: weekly demand forecasting and replenishment planning for a whole catalogue.

mod backtest_cmd;
mod commands;
mod demo_cmd;
mod forecast_cmd;
mod plan_cmd;
mod progress;
mod report_cmd;
mod run_cmd;
mod train_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
