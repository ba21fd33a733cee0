//! The fuzz target `pipeline`: [`pipeline::run`] on every input (see `../pipeline.rs` and the
//! README's "Fuzzing").

#![no_main]

#[path = "../pipeline.rs"]
mod pipeline;

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipeline::run(data));
