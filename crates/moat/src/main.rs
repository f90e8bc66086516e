//! The `moat` binary: command-line parsing and wiring only. Every command loads the
//! configuration, opens the store and calls one service; output is a table on a terminal
//! or JSON with `--json`.
//!
//! Exit codes (SPEC.md): 0 success; 1 the operation ran and failed; 2 bad usage or bad
//! configuration.

#[macro_use]
mod output;
mod audit_keys;
mod audit_sinks;
mod cli;
mod commands;
mod context;
mod logging;
mod operator;
mod references;
mod sample;
mod witness;

use clap::Parser;
use std::process::ExitCode;

/// jemalloc instead of the system allocator: a search, a tool call and a gateway request
/// each make thousands of small allocations across the runtime's threads, and glibc's
/// malloc, free and consolidation took ~13% of the MCP server's CPU under load; with
/// jemalloc the same load serves ~55% more tool calls (bench/RESULTS.md, issue #7).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at start-up: a background thread hands freed pages
/// back to the system. Without it an idle server keeps them until it next allocates,
/// so parked MCP sessions (and a finished burst of load) stayed resident.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static JEMALLOC_OPTIONS: &[u8; 23] = b"background_thread:true\0";

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
