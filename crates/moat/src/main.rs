//! The `moat` binary: command-line parsing and wiring only. Every command loads the
//! configuration, opens the store and calls one service; output is a table on a terminal
//! or JSON with `--json`.
//!
//! Exit codes (SPEC.md): 0 success; 1 the operation ran and failed; 2 bad usage or bad
//! configuration.

mod audit_keys;
mod cli;
mod commands;
mod context;
mod output;
mod sample;
mod witness;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(context::exit_code_for(&error))
        }
    }
}
