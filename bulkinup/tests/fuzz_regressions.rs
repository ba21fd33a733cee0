//! The fuzz target's inputs in the normal suite: every file of `fuzz/seeds/` (valid and
//! invalid items of every root) and `fuzz/regressions/` (each input the fuzzer found a crash,
//! an unbounded allocation or a hang with, once fixed) runs through the same function as the
//! fuzz target (`fuzz/pipeline.rs`, README "Fuzzing"): none may panic.

#[path = "../../fuzz/pipeline.rs"]
mod pipeline;

use std::path::Path;

/// The files of `fuzz/DIR`, sorted.
fn inputs(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// Runs each input of `fuzz/DIR` through the fuzz target's function; returns how many ran.
fn replay(dir: &str) -> usize {
    let files = inputs(dir);
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // A panic names the input that caused it.
        let outcome = std::panic::catch_unwind(|| pipeline::run(&data));
        assert!(outcome.is_ok(), "{} panicked", file.display());
    }
    files.len()
}

#[test]
fn the_fuzz_seeds_run_through_the_pure_stages_without_a_panic() {
    assert!(replay("seeds") >= 9, "the seeds of every root");
}

#[test]
fn the_inputs_the_fuzzer_found_problems_with_run_without_a_panic() {
    replay("regressions");
}
