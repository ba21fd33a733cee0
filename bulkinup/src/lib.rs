//! # bulkinup
//!
//! Writes nested records into relational tables in bulk. One call validates a stream of
//! nested JSON objects against declared [schemas](schema) and [changesets](changeset), then
//! writes each parent and its `has_many`, `has_one`, `many_to_many` (related rows and join
//! rows) and embedded children into their own tables, recursively, in one transaction — on
//! SQLite, PostgreSQL and MySQL/MariaDB. It follows the semantics of the Elixir library
//! Bulkinup (on Ecto).
//!
//! ## Example
//!
//! ```
//! use bulkinup::{Db, Options, Registry};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let registry = Registry::from_toml_str(r#"
//!     [schemas.Author]
//!     source = "authors"
//!     fields = { id = "integer", name = "string" }
//!     associations = { posts = { kind = "has_many", related = "Post" } }
//!     changesets.changeset = { cast = ["id", "name"], required = ["id", "name"], cast_assoc = ["posts"] }
//!
//!     [schemas.Post]
//!     source = "posts"
//!     fields = { id = "integer", author_id = "integer", title = "string" }
//!     changesets.changeset = { cast = ["id", "author_id", "title"], required = ["id", "author_id", "title"] }
//! "#, "inline")?.registry;
//!
//! let db = Db::connect("sqlite::memory:").await?;
//! db.execute_script("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
//!     CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors(id), title TEXT NOT NULL);").await?;
//!
//! let items = vec![
//!     json!({"id": 1, "name": "Alice", "posts": [{"id": 10, "author_id": 1, "title": "Hello"}]}),
//!     json!({"id": 2}), // invalid: name is required — skipped, counted, not written
//! ];
//! let summary = bulkinup::upsert(&db, &registry, "Author", items, &Options::default()).await?;
//! assert_eq!((summary.written, summary.skipped), (1, 1));
//! assert_eq!(summary.rows["posts"], 1);
//! # Ok::<(), bulkinup::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Behavior
//!
//! - **Validate.** Each item is cast with the root schema's changeset, recursively through
//!   `cast_assoc`/`cast_embed`. Invalid items (an invalid child makes its parent invalid;
//!   an item that is not a JSON object is invalid) are skipped: never written, counted in
//!   [`Summary::skipped`], reported by one `tracing` warning per call naming the verb and the
//!   root schema, with the count and the first 50 primary keys ([`Summary::skipped_line`]:
//!   `insert Author: skipped 1 of 2 items as invalid; primary keys: [2]`; it ends with a hint
//!   at `infer_foreign_keys` when most of them lack a child's foreign key it would fill), and
//!   per item at debug level. Any number may be skipped unless `max_skipped` limits them.
//! - **Write.** Items are consumed `chunk_size` at a time (default 1000): memory is bounded by
//!   the chunk. For each chunk: the root rows, then every `has_many`/`has_one` child, every
//!   `many_to_many` related row followed by its join rows, recursively; parents before
//!   children. A table's R rows of a chunk go out in ⌈R / chunk_size⌉ statements, split further
//!   only to stay under the database's bound-parameter limit. Embeds are written inline as
//!   JSON (with a UUID v4 for an embedded primary key that is absent). Nested `belongs_to`
//!   data is not written; its foreign key field is cast on the owner like any field.
//! - **Write-only.** Children absent from the attrs are never deleted or nilified.
//! - **Conflicts.** Upsert: a row conflicting on its primary key has every field replaced
//!   except the primary key (fields absent from the attrs become their default, `NULL` unless
//!   declared); join rows do nothing on a conflict of their join keys (the join table needs a
//!   unique index on them). Rows of one table sharing a conflict key within a chunk are merged,
//!   the last occurrence winning. Insert: no conflict clause anywhere; a duplicate row is a
//!   database error. `many_to_many` related rows shared by several parents are written once
//!   per call (by primary key), duplicate links once.
//! - **Transactions.** The whole call runs in one transaction: any database error, timeout or
//!   malformed input rolls back every chunk and every table, and is returned as an
//!   [`Error`] naming the table and the database's reason. With `max_concurrency`, each chunk
//!   is its own transaction: an error leaves the chunks already committed in place, and is
//!   returned once the chunks in flight have ended, as [`Error::PartlyCommitted`] naming the
//!   input ranges ([`InputRange`]: lines, array elements, or item positions) that committed;
//!   a chunk that hits a deadlock or serialization failure is retried (up to 4 attempts).
//! - **Concurrent imports.** The rows of every statement are sorted by their conflict key
//!   (upsert), primary key (insert) or join keys, so concurrent writers lock shared rows
//!   (tags) in one order. A one-transaction call that still hits a deadlock or serialization
//!   failure is retried from the start (up to 4 attempts) when its input can be read again:
//!   [`write_restartable`]. Otherwise it fails with [`Error::Contention`], which names
//!   `max_concurrency` (per-chunk retries) as the remedy.
//!
//! ## Options
//!
//! Every option of a call is a field of [`Options`] with a builder method; all are checked
//! against the registry before anything is written, and an error names the option and the
//! valid choices ([`Error::InvalidOption`]).
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `changeset` | the root schema's changeset | `changeset` |
//! | `chunk_size` | items per chunk, and max rows per statement per table (≥ 1) | 1000 |
//! | `max_concurrency` | write up to N chunks at once, each in its own transaction; committed chunks stay committed if a later one fails ([`Error::PartlyCommitted`] says which input ranges); deadlocks are retried | one transaction |
//! | `timeout` | limit for the whole transaction (per chunk with `max_concurrency`), which bounds each statement too, on the client's clock; `None` for no limit | 15 s |
//! | `statement_timeout` | limit for each statement (`BEGIN`, each write, the commit, prefix checks): told to the database where it has one, and enforced by the client, which abandons a statement the server has not answered and closes its connection ([`Options::statement_timeout`]); `None`: what remains of `timeout` | none (CLI: 60 s) |
//! | `connect_timeout` | limit for connecting ([`Db::connect_timeout`]): a refused connection fails at once with the reason, a server that does not answer within it fails the connection; finite, > 0 | 10 s |
//! | `max_item_bytes` | the longest input item the [`input`] reader accepts: a longer NDJSON line or JSON-array element is malformed input ([`Error::Input`]), found without buffering more than about the limit; > 0 | 256 MiB |
//! | `placeholder(key, field, value)` | a value shared by every row of a schema or join table, injected before validation, replacing per-row values, written even if not cast; bound once per statement on PostgreSQL and SQLite | none |
//! | `recover(schema, field, fallback)` | fallbacks that recover an invalid changeset when every error has one and every nested changeset recovers | none |
//! | `replace_all_except` | upsert only: fields kept on conflict besides the primary key | none |
//! | `on_conflict(key, action)` | `Nothing`, `ReplaceAll`, `Replace(fields)`, `ReplaceAllExcept(fields)`, `Raise`, per schema or join table | upsert: replace all but the key (join rows: nothing); insert: raise |
//! | `conflict_target(key, columns)` | the unique columns that conflict (required for an upsert of a schema without primary key) | the primary key / join keys |
//! | `on_skipped`, `on_recovered`, `on_progress` | handlers called once per chunk (`on_progress` also once after a one-transaction call's commit, with [`Summary::committed`] set) | none |
//! | `on_committed` | with `max_concurrency`: a handler called as soon as each chunk has committed, with its input ranges and all committed so far ([`Committed`]) | none |
//! | `writer` | the writer hook: sees each [`plan::Batch`] with its conflict clause and the [`WriteContext`] (verb, timeout), returns the batches to write | the default writer |
//! | `dry_run` | validate and plan, write nothing | false |
//! | `max_skipped` | [`MaxSkipped`]: more invalid items than a count (checked as soon as it is passed) or a percentage of the items read (checked at the end, before the commit) fail the call with [`Error::TooManyInvalid`], rolled back (with `max_concurrency`, committed chunks stay) | no limit |
//! | `prefix` | the PostgreSQL schema, MySQL/MariaDB database or attached SQLite database of every schema without its own `prefix` (checked to exist before anything is written) | the connection's current one |
//! | `now` | the call's clock reading: `now()` in association `defaults`/`join_defaults`, and `timestamps` | read when the call starts |
//!
//! [`Repo`] carries shared and per-verb defaults (precedence: per-call > per-verb > shared).
//!
//! ```
//! use std::time::Duration;
//! use bulkinup::{ConflictAction, Db, Options, Registry};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let registry = Registry::from_toml_str(r#"
//!     [schemas.Tag]
//!     source = "tags"
//!     fields = { id = "integer", name = "string", source = "string" }
//!     changesets.changeset = { cast = ["id", "name"], required = ["id", "name"] }
//! "#, "inline")?.registry;
//! let db = Db::connect("sqlite::memory:").await?;
//! db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL, source TEXT)").await?;
//!
//! let options = Options::default()
//!     .changeset("changeset")
//!     .chunk_size(500)
//!     .timeout(Some(Duration::from_secs(60)))
//!     .placeholder("Tag", "source", json!("import"))
//!     .recover("Tag", "name", json!("unnamed"))
//!     .replace_all_except(["source"])
//!     .on_conflict("Tag", ConflictAction::ReplaceAllExcept(vec!["source".into()]))
//!     .conflict_target("Tag", ["id"])
//!     .on_skipped(|skipped| eprintln!("{} skipped", skipped.len()))
//!     .on_recovered(|recovered| eprintln!("{} recovered", recovered.len()))
//!     .on_progress(|summary| eprintln!("{} written", summary.written))
//!     .writer(|_ctx, batch| Ok(vec![batch]));
//! let items = vec![json!({"id": 1, "name": "rust"}), json!({"id": 2})];
//! let summary = bulkinup::upsert(&db, &registry, "Tag", items, &options).await?;
//! assert_eq!((summary.written, summary.skipped, summary.recovered), (2, 0, 1));
//!
//! let concurrent = Options::default().chunk_size(1).max_concurrency(4);
//! bulkinup::upsert(&db, &registry, "Tag", vec![json!({"id": 3, "name": "go"})], &concurrent).await?;
//! # Ok::<(), bulkinup::Error>(())
//! # }).unwrap();
//! ```
//!
//! On MySQL/MariaDB the upsert is `ON DUPLICATE KEY UPDATE`, which fires on whichever unique
//! key the row collides with (there is no conflict target).
//!
//! ## Association defaults, join defaults, prefixes (Ecto's)
//!
//! An association's `defaults` are the values every child built through it starts from
//! (attrs its changeset casts override them; validations see them); a `many_to_many`'s
//! `join_defaults` are written into every join row; a schema's `prefix` (or the call's
//! [`Options::prefix`]) is the PostgreSQL schema, MySQL/MariaDB database or attached SQLite
//! database its table is in. `now()` is the call's one clock reading ([`Options::now`]).
//!
//! ```
//! use bulkinup::{Db, Options, Registry};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let registry = Registry::from_toml_str(r#"
//!     [schemas.Post]
//!     source = "posts"
//!     prefix = "archive"
//!     fields = { id = "integer", title = "string" }
//!     associations.comments = { kind = "has_many", related = "Comment", defaults = { public = true } }
//!     associations.tags = { kind = "many_to_many", related = "Tag", join_through = "posts_tags", join_defaults = { linked_at = "now()" } }
//!     changesets.changeset = { cast = ["id", "title"], cast_assoc = ["comments", "tags"] }
//!
//!     [schemas.Comment]
//!     source = "comments"
//!     prefix = "archive"
//!     fields = { id = "integer", post_id = "integer", public = "boolean" }
//!     changesets.changeset = { cast = ["id", "post_id", "public"], required = ["public"] }
//!
//!     [schemas.Tag]
//!     source = "tags"
//!     fields = { id = "integer", name = "string" }
//!     changesets.changeset = { cast = ["id", "name"] }
//! "#, "inline")?.registry;
//!
//! // On SQLite a prefix is an attached database: `attach=NAME:FILE` on the URL.
//! let db = Db::connect("sqlite::memory:?attach=archive::memory:").await?;
//! db.execute_script("CREATE TABLE archive.posts (id INTEGER PRIMARY KEY, title TEXT);
//!     CREATE TABLE archive.comments (id INTEGER PRIMARY KEY, post_id INTEGER, public BOOLEAN NOT NULL);
//!     CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);
//!     CREATE TABLE archive.posts_tags (post_id INTEGER, tag_id INTEGER, linked_at TEXT NOT NULL,
//!         PRIMARY KEY (post_id, tag_id));").await?;
//!
//! let items = vec![json!({"id": 1, "title": "Hi",
//!     "comments": [{"id": 1, "post_id": 1}, {"id": 2, "post_id": 1, "public": false}],
//!     "tags": [{"id": 7, "name": "rust"}]})];
//! let summary = bulkinup::upsert(&db, &registry, "Post", items, &Options::default()).await?;
//! assert_eq!(summary.rows["archive.posts_tags"], 1); // the join table follows its owner
//! let rows = db.fetch_json("SELECT id, public FROM archive.comments ORDER BY id").await?;
//! assert_eq!((rows[0]["public"].clone(), rows[1]["public"].clone()), (json!(1), json!(0)));
//! # Ok::<(), bulkinup::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Features
//!
//! | | SQLite | PostgreSQL | MySQL/MariaDB |
//! |---|---|---|---|
//! | upsert / insert, nested | yes | yes | yes |
//! | conflict target | `ON CONFLICT (…)` | `ON CONFLICT (…)` | any unique key |
//! | bind limit per statement | 32766 | 65535 | 65535 |
//! | uuid, map, arrays | text, JSON text | `uuid`, `jsonb`, arrays | text, JSON text |
//! | TLS (rustls), by the URL ([`Db::connect_timeout`]) | — | `sslmode`, `sslrootcert`, `sslcert`, `sslkey` | `ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key` |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod changeset;
mod db;
mod ddl;
pub mod dialect;
pub mod error;
mod execute;
pub mod input;
mod item;
pub mod options;
pub mod plan;
mod repo;
pub mod schema;
mod summary;

use futures::Stream;

pub use catalog::Mismatch;
pub use changeset::{AssocChange, Changeset, FieldError};
pub use db::{Db, DbKind, PgInserts, URL_FORMS, redact};
pub use ddl::{DdlStatement, apply_ddl, ddl};
pub use error::{DbErrorKind, Error, ItemRef, Result, Waited};
pub use execute::{CALL_ATTEMPTS, CHUNK_ATTEMPTS};
pub use item::{InputRange, IntoItem, Item, Numbering, Origin};
pub use options::{
    CLI_DEFAULT_STATEMENT_TIMEOUT, CONFLICT_ACTIONS, Committed, ConflictAction,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ITEM_BYTES, DEFAULT_TIMEOUT, Handler, InferOptions,
    MaxSkipped, ON_ERROR_CHOICES, OnError, Options, Rejected, Shard, Skipped, Verb, WriteContext,
    WriterHook,
};
pub use repo::Repo;
pub use schema::{
    AssocDef, AssocKind, ChangesetDef, FieldDef, FieldType, LengthRule, NumberRule, Registry,
    RegistryBuilder, Schema, SchemaDef, SchemaFile, Value,
};
pub use summary::{INFER_FOREIGN_KEYS_HINT, SKIPPED_KEYS_LISTED, Summary};

/// Upserts `items` (nested attrs of the schema `root`) and their associations: existing rows
/// are updated on conflict. See the crate docs for exactly what is written.
///
/// # Errors
/// [`Error::InvalidOption`]/[`Error::Schema`] before anything is written;
/// [`Error::Database`] when the database refuses a statement (everything rolled back);
/// [`Error::Contention`] on a deadlock or serialization failure, which is not retried: an
/// iterator cannot be read twice ([`write_restartable`] retries the call from the start).
/// With `max_concurrency`, an error while reading or writing the items is
/// [`Error::PartlyCommitted`]: the error, and the input ranges of the chunks that committed.
pub async fn upsert<I>(
    db: &Db,
    registry: &Registry,
    root: &str,
    items: I,
    options: &Options,
) -> Result<Summary>
where
    I: IntoIterator,
    I::Item: IntoItem,
{
    write(db, registry, root, Verb::Upsert, items, options).await
}

/// Inserts `items` and their associations: a row that already exists is an error and rolls
/// back the call. See [`upsert`] for the rest.
///
/// # Errors
/// As [`upsert`]; a duplicate row is an [`Error::Database`] of kind
/// [`DbErrorKind::UniqueViolation`].
pub async fn insert<I>(
    db: &Db,
    registry: &Registry,
    root: &str,
    items: I,
    options: &Options,
) -> Result<Summary>
where
    I: IntoIterator,
    I::Item: IntoItem,
{
    write(db, registry, root, Verb::Insert, items, options).await
}

/// [`upsert`] or [`insert`], by `verb`.
///
/// # Errors
/// As [`upsert`] and [`insert`].
pub async fn write<I>(
    db: &Db,
    registry: &Registry,
    root: &str,
    verb: Verb,
    items: I,
    options: &Options,
) -> Result<Summary>
where
    I: IntoIterator,
    I::Item: IntoItem,
{
    let stream = futures::stream::iter(items.into_iter().enumerate().map(|(n, i)| {
        i.into_item().map_err(|e| Error::Input {
            file: None,
            line: u64::try_from(n + 1).ok(),
            message: format!("the item cannot be serialized to JSON: {e}"),
        })
    }));
    db.run(registry, root, verb, once(stream), options).await
}

/// [`upsert_stream`] or [`insert_stream`], by `verb`.
///
/// # Errors
/// As [`upsert_stream`] and [`insert_stream`].
pub async fn write_stream<S>(
    db: &Db,
    registry: &Registry,
    root: &str,
    verb: Verb,
    items: S,
    options: &Options,
) -> Result<Summary>
where
    S: Stream<Item = Result<Item>>,
{
    db.run(registry, root, verb, once(items), options).await
}

/// [`upsert`] from a stream, consumed one chunk at a time. An `Err` item (malformed input)
/// rolls back the call and is returned. A stream is read once: a deadlock is not retried
/// (see [`write_restartable`]).
///
/// # Errors
/// As [`upsert`], plus the stream's own errors.
pub async fn upsert_stream<S>(
    db: &Db,
    registry: &Registry,
    root: &str,
    items: S,
    options: &Options,
) -> Result<Summary>
where
    S: Stream<Item = Result<Item>>,
{
    db.run(registry, root, Verb::Upsert, once(items), options)
        .await
}

/// [`insert`] from a stream, consumed one chunk at a time.
///
/// # Errors
/// As [`insert`], plus the stream's own errors.
pub async fn insert_stream<S>(
    db: &Db,
    registry: &Registry,
    root: &str,
    items: S,
    options: &Options,
) -> Result<Summary>
where
    S: Stream<Item = Result<Item>>,
{
    db.run(registry, root, Verb::Insert, once(items), options)
        .await
}

/// What makes a call's items again for a retry: none for items read once.
type Reopen<S> = Option<fn(u32) -> Result<S>>;

/// Items read once: a call without retries from the start.
fn once<S>(items: S) -> (S, Reopen<S>) {
    (items, None)
}

/// [`write_stream`] from a source that can be read again: `open(attempt)` makes the stream of
/// items for each attempt (1 for the first). A one-transaction call (no `max_concurrency`)
/// that fails on a deadlock or serialization failure — another writer held the same rows at
/// the same time — is rolled back and tried again from the start, on a fresh stream, up to
/// [`CALL_ATTEMPTS`] attempts in all, after a short random wait (50 ms doubled per attempt,
/// half of it random). Each attempt is its own transaction, bounded by `timeout`. When every
/// attempt fails, the error is [`Error::Contention`].
///
/// Only this function retries a whole call: [`upsert`], [`insert`], [`write`] and the
/// `*_stream` functions take an iterator or stream that cannot be read twice, so there such a
/// failure is returned at once, as [`Error::Contention`]. With `max_concurrency` each chunk
/// is retried on its own ([`CHUNK_ATTEMPTS`]) and `open` is called once.
///
/// The summary is the successful attempt's. Whatever the handlers heard during a failed
/// attempt (`on_skipped`, `on_recovered`, `on_progress`) belongs to a rolled-back attempt:
/// when `open` is called with an attempt above 1, discard it (the attempt reports those
/// items again).
///
/// ```
/// use bulkinup::{Db, Options, Registry, Verb};
/// use futures::stream;
/// use serde_json::json;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let registry = Registry::from_toml_str(r#"
/// #     [schemas.Tag]
/// #     source = "tags"
/// #     fields = { id = "integer", name = "string" }
/// #     changesets.changeset = { cast = ["id", "name"], required = ["id", "name"] }
/// # "#, "inline")?.registry;
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").await?;
/// let open = |attempt: u32| {
///     if attempt > 1 {
///         eprintln!("retrying from the start (attempt {attempt})");
///     }
///     let items = vec![json!({"id": 1, "name": "rust"}), json!({"id": 2, "name": "go"})];
///     Ok(stream::iter(items.into_iter().map(|i| Ok(i.into()))))
/// };
/// let summary =
///     bulkinup::write_restartable(&db, &registry, "Tag", Verb::Upsert, open, &Options::default())
///         .await?;
/// assert_eq!(summary.written, 2);
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// As [`write_stream`]; an error of `open` ends the call with that error.
pub async fn write_restartable<F, S>(
    db: &Db,
    registry: &Registry,
    root: &str,
    verb: Verb,
    mut open: F,
    options: &Options,
) -> Result<Summary>
where
    F: FnMut(u32) -> Result<S>,
    S: Stream<Item = Result<Item>>,
{
    let first = open(1)?;
    db.run(registry, root, verb, (first, Some(open)), options)
        .await
}
