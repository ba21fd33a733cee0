//! The pure stages of a call, from bytes to planned rows, on arbitrary input: the input reader
//! (NDJSON or a JSON array, with a small item limit), casting and validation into the
//! changeset tree (every field type, every association kind, nested), recovery, and the
//! planner (chunks, parents before children, de-duplication, generated keys), as a dry run
//! does them — no database is written (the dry run's connection is an in-memory SQLite one
//! that it never uses).
//!
//! The first three bytes choose the call: the schema file and root, the verb, the chunk size,
//! the options; the rest is the input. What must hold: no panic, no unbounded allocation (the
//! run's `-rss_limit_mb`), no hang (`-timeout`), and a call that succeeds counts every item
//! read exactly once (written or skipped); an `Err` is a fine outcome (malformed input, an
//! option the root refuses).
//!
//! Shared by the fuzz target (`fuzz_targets/pipeline.rs`) and the normal test suite, which
//! replays `seeds/` and `regressions/` through it (`bulkinup/tests/fuzz_regressions.rs`).

use std::sync::{Arc, OnceLock};

use bulkinup::input::read_source;
use bulkinup::{Db, Options, Registry, Verb};
use serde_json::json;

/// What every run shares: a runtime, the dry run's unused connection, the registries.
struct World {
    runtime: tokio::runtime::Runtime,
    db: Db,
    fuzz: Registry,
    blog: Registry,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let db = runtime
            .block_on(Db::connect("sqlite::memory:"))
            .expect("an in-memory SQLite database");
        let load = |text: &str, name: &str| {
            Registry::from_toml_str(text, name)
                .unwrap_or_else(|e| panic!("{name} loads: {e}"))
                .registry
        };
        World {
            runtime,
            db,
            fuzz: load(include_str!("schema.toml"), "fuzz/schema.toml"),
            blog: load(
                include_str!("../examples/blog/schema.toml"),
                "examples/blog/schema.toml",
            ),
        }
    })
}

/// The roots a run may start from: (blog registry?, root schema).
const ROOTS: [(bool, &str); 8] = [
    (false, "Doc"),
    (false, "Gen"),
    (false, "Pair"),
    (false, "Log"),
    (false, "Part"),
    (true, "Author"),
    (true, "Post"),
    (true, "Tag"),
];

/// One run: the first three bytes choose the call, the rest is its input.
pub fn run(data: &[u8]) {
    let [a, b, c, input @ ..] = data else {
        return;
    };
    let w = world();
    let (blog, root) = ROOTS[usize::from(a & 7)];
    let registry = if blog { &w.blog } else { &w.fuzz };
    let verb = if a & 8 == 0 {
        Verb::Upsert
    } else {
        Verb::Insert
    };

    // The reader, with items of at most 1..=4096 bytes.
    let max_item_bytes = 1 + usize::from(*b) * 16;
    let file: Arc<str> = Arc::from("fuzz");
    let mut items = Vec::new();
    read_source(input, &file, max_item_bytes, &mut |item| {
        items.push(item);
        true
    });

    // Casting, validation, recovery and planning, as a dry run does them.
    let mut options = Options::default()
        .dry_run(true)
        .chunk_size(1 + usize::from(c & 3))
        .infer_foreign_keys(c & 4 != 0)
        .write_belongs_to(c & 8 != 0)
        .now(chrono::DateTime::UNIX_EPOCH)
        .on_skipped(|skipped| {
            for s in skipped {
                let _ = (s.changeset.errors_json(), s.changeset.primary_key_json());
            }
        });
    if c & 16 != 0 {
        options = options.changeset("loose");
    }
    if c & 32 != 0 {
        options = if blog {
            options
                .recover("Author", "phone_number", json!("555-0000"))
                .recover("Post", "title", json!("untitled"))
        } else {
            options
                .recover("Doc", "s", json!("x"))
                .recover("Doc", "n", json!(0))
                .recover("Note", "body", json!("abc"))
        };
    }
    if c & 64 != 0 && !blog {
        options = options
            .placeholder("Doc", "d", json!("1.5"))
            .placeholder("Gen", "name", json!("p"))
            .placeholder("docs_labels", "at", json!("2024-01-01T00:00:00Z"));
    }
    if !blog {
        options = options.conflict_target("Log", ["k"]);
    }
    let read = items.iter().filter(|i| i.is_ok()).count() as u64;
    let stream = futures::stream::iter(items);
    let result = w.runtime.block_on(bulkinup::write_stream(
        &w.db, registry, root, verb, stream, &options,
    ));
    // Every item read is counted once: written (recovered ones included) or skipped.
    if let Ok(summary) = result {
        assert_eq!(summary.written + summary.skipped, read, "{summary:?}");
        assert!(summary.recovered <= summary.written, "{summary:?}");
    }
}
