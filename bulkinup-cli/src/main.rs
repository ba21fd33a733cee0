//! `bulkinup`: writes nested JSON records into relational tables in bulk, from the shell.
//!
//! `main` parses the command line, calls [`run::run`] and maps its error to the exit status:
//! `0` done (also when items were skipped, or standard output was closed early), `1` database
//! error, `2` usage, option or schema error, `3` malformed input, `4` too many invalid items
//! (`--max-skipped`), `5` written, but the rejects file is incomplete.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod demo;
mod files;
mod output;
mod run;
mod settings;

/// mimalloc: the item trees are many small allocations; it cut the CPU per item by about a
/// sixth in the dry-run benchmark (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = args::parse();
    let code = match run::run(cli) {
        Ok(()) => 0,
        Err(failure) if failure.is_broken_pipe() => 0,
        Err(failure) => {
            output::eprint_error(&failure.to_string());
            failure.exit_code()
        }
    };
    std::process::exit(code);
}
