//! `bulkinup-bench`: times bulkinup on the reference workload (BENCHMARKS.md, "The workload") against the ways
//! people load such data today, each from empty tables, in one run on one database.
//!
//! ```text
//! cargo run --release -p bulkinup-bench -- \
//!     --database-url postgres://postgres@127.0.0.1:5432/test --authors 20000
//! ```
//!
//! See `BENCHMARKS.md` at the repository root for the methods and the figures measured.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod baseline;
mod cli;
mod csv;
mod loaders;
mod report;
mod target;
mod workload;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bulkinup-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
