//! The options of a call — one home: the [`Options`] value and its hooks (here), the text
//! forms of their values shared by the command line and the schema file (`value`), layers
//! with their provenance and the one precedence rule (`layer`: [`Layer`], [`Place`]), and
//! the one check against the registry before anything is written ([`Options::validate`],
//! [`Layer::resolve`]). Where each option is defined, validated and applied:
//!
//! | option | defined (field, builder) | text form | checked | applied |
//! |---|---|---|---|---|
//! | `chunk_size`, `max_concurrency`, `timeout`, `changeset` | [`Options`] | `value` | `resolve` | execute |
//! | `placeholders`, `recover_changeset_errors`, `infer_foreign_keys` | [`Options`] | `value` | `resolve` | changeset (casting) |
//! | `on_conflict`, `conflict_target`, `replace_all_except` | [`Options`] ([`ConflictAction`] in `plan::conflict`) | `value`, `ConflictAction: FromStr` | `resolve` | `plan::conflict` |
//! | `write_belongs_to`, `prefix`, `now` | [`Options`] | `value` | `resolve` (a prefix's existence: before writing) | plan |
//! | `connect_timeout` | [`Options`] | `value` (finite: no `infinity`) | `resolve` | [`Db::connect_timeout`](crate::Db::connect_timeout) |
//! | `any_unique_key` | [`Options`] | `value` | — | execute (the MySQL/MariaDB guard) |
//! | `max_item_bytes` | [`Options`] | `value` (bytes, or with a unit: `64MiB`) | `resolve` | [`input`](crate::input) (the reader) |
//! | `on_error` | [`Options`] ([`OnError`]) | `value` | `value` | execute (`isolate`) |
//! | `max_skipped` | [`Options`] ([`MaxSkipped`]) | `value` (`N` or `N%`) | `value` | execute (`producer`: [`Error::TooManyInvalid`](crate::Error::TooManyInvalid)) |
//! | `shard` | [`Options`] ([`Shard`]; the command line only, `--shard K/N`) | `Shard: FromStr` | [`Shard::new`] | execute (`producer`) |
//! | `statement_timeout` | [`Options`] (the command line's default: [`Layer::command_line_defaults`]) | `value` (as `timeout`) | `resolve` | execute (`deadline`; with `timeout`, also the catalog's reads and `Db::*_within`) |
//!
//! Schema inference from data has options of its own, not a write's: [`InferOptions`]
//! (`infer`; `--sample` parsed as `chunk_size` is), applied by
//! [`infer_from_data`](crate::catalog::infer_from_data).

mod infer;
mod layer;
mod place;
mod shard;
mod value;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::changeset::Changeset;
use crate::changeset::cast_value;
use crate::error::{Choices, Error, Result};
use crate::item::{InputRange, Item};
use crate::plan::{Batch, ConflictPolicy, IntoPolicy, Policy};
pub use crate::plan::{CONFLICT_ACTIONS, ConflictAction, Verb};
use crate::schema::{Registry, Schema};
use crate::summary::Summary;
pub use infer::InferOptions;
pub use layer::did_you_mean;
pub use layer::{
    Flags, Given, Layer, OPTION_KEYS, Place, Placeholder, file_layers, schema_file_layers,
};
pub use shard::Shard;

/// A skipped (invalid) item: its changeset, with the error tree, and the item as given.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The invalid changeset (see [`Changeset::errors_json`]).
    pub changeset: Changeset,
    /// The item as it was read, with its origin.
    pub item: Item,
}

/// An item the database refused (with `on_error` = [`OnError::Reject`]): its rows were
/// rolled back to a savepoint, the rest of its chunk was written.
#[derive(Debug)]
pub struct Rejected {
    /// The item as it was read, with its origin.
    pub item: Item,
    /// The database's error for the item's rows ([`Error::Database`], naming the table,
    /// the database's message and detail, and the item).
    pub error: Error,
}

impl Rejected {
    /// The database's error as the rejects record's `errors`:
    /// `{"database": {"table": …, "code": …, "constraint": …, "message": …, "detail": …,
    /// "hint": …}}`, each key present when the database gave it.
    ///
    /// ```
    /// use bulkinup::{Error, Item, Rejected};
    /// let r = Rejected {
    ///     item: Item::from(serde_json::json!({"id": 1})),
    ///     error: Error::database(Some("things"), sqlx::Error::Protocol("refused".into())),
    /// };
    /// assert_eq!(
    ///     r.errors_json(),
    ///     serde_json::json!({"database": {"table": "things",
    ///         "message": "encountered unexpected or invalid data: refused"}})
    /// );
    /// ```
    pub fn errors_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value {
                out.insert(key.into(), v.into());
            }
        };
        match &self.error {
            Error::Database {
                table,
                code,
                constraint,
                message,
                detail,
                hint,
                ..
            } => {
                put("table", table.as_deref());
                put("code", code.as_deref());
                put("constraint", constraint.as_deref());
                put("message", Some(message));
                put("detail", detail.as_deref());
                put("hint", hint.as_deref());
            }
            other => put("message", Some(&other.to_string())),
        }
        serde_json::json!({ "database": out })
    }
}

/// What a call does when the database refuses a row (a constraint violation, a value the
/// database does not accept; option `on_error`, flag `--on-error`). Either way the call
/// first finds the input item whose rows were refused — it writes the failing chunk's items
/// again in halves, each in a savepoint, down to one item — so that the error names it.
///
/// ```
/// use bulkinup::OnError;
/// assert_eq!("reject".parse::<OnError>(), Ok(OnError::Reject));
/// assert_eq!(OnError::default(), OnError::Rollback);
/// assert_eq!(OnError::Reject.to_string(), "reject");
/// assert!("skip".parse::<OnError>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnError {
    /// The call fails with the database's error naming the item, and rolls back (in one
    /// transaction, everything; with `max_concurrency`, the failing chunk).
    #[default]
    Rollback,
    /// The refused items are set aside (the `on_rejected` handler; the command line's
    /// rejects file), counted in [`Summary::rejected`], and the rest of the call is
    /// committed. Errors that are not about a row (a lost connection, a timeout, a missing
    /// permission or table) still fail the call and roll it back.
    Reject,
}

/// The choices of `on_error`.
pub const ON_ERROR_CHOICES: &str = "rollback, reject";

impl std::str::FromStr for OnError {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "rollback" => Ok(OnError::Rollback),
            "reject" => Ok(OnError::Reject),
            other => Err(format!(
                "unknown on_error `{other}`{}",
                did_you_mean(other, &["rollback", "reject"])
            )),
        }
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnError::Rollback => "rollback",
            OnError::Reject => "reject",
        })
    }
}

/// What the `on_committed` handler is told each time a chunk of a call with
/// `max_concurrency` has committed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Committed {
    /// The input ranges of the chunk that committed (two when it spans two input files).
    pub chunk: Vec<InputRange>,
    /// Everything the call has committed so far, this chunk included: merged, in input
    /// order, as [`Error::PartlyCommitted`](crate::Error::PartlyCommitted) reports it.
    pub so_far: Vec<InputRange>,
}

/// A handler called with a slice of values once per chunk (`on_skipped`, …), with the
/// running summary after each chunk (`on_progress`), or with what committed (`on_committed`).
pub struct Handler<T: ?Sized>(pub Arc<dyn Fn(&T) + Send + Sync>);

impl<T: ?Sized> Clone for Handler<T> {
    fn clone(&self) -> Self {
        Handler(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> fmt::Debug for Handler<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler(..)")
    }
}

/// The library's default `timeout`: 15 seconds, as Ecto's. The command-line tool has none
/// (`--timeout infinity`, [`Layer::command_line_defaults`]); each of its statements is
/// bounded by [`CLI_DEFAULT_STATEMENT_TIMEOUT`] instead.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The default `connect_timeout`: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default `max_item_bytes`: 256 MiB.
pub const DEFAULT_MAX_ITEM_BYTES: usize = 256 << 20;
/// The command-line tool's default `statement_timeout` (`--statement-timeout`): 60 seconds,
/// so that with default flags no statement waits without a limit, even when the whole call
/// has none (the command line's default, `--timeout infinity`). The library's default is no limit of its own: each
/// statement is then bounded by what remains of `timeout`.
pub const CLI_DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most invalid items a call accepts (option `max_skipped`, flag `--max-skipped N|N%`):
/// one more fails the call with [`Error::TooManyInvalid`](crate::Error::TooManyInvalid).
///
/// Invalid items are the top-level items skipped by validation (`skipped` in the summary).
///
/// - `Items(n)`: checked as each item is skipped, so the call fails as soon as the
///   `n + 1`-th invalid item is read, before the rest of the input is read.
/// - `Percent(p)`: the share of the items read, which is only known at the end of the input:
///   checked there, before the commit. More than `p` % of the items invalid fails the call.
///
/// ```
/// use bulkinup::MaxSkipped;
/// assert!(MaxSkipped::Items(2).exceeded(3, 10));
/// assert!(!MaxSkipped::Items(2).exceeded(2, 10));
/// assert!(MaxSkipped::Percent(10.0).exceeded(2, 10));
/// assert!(!MaxSkipped::Percent(20.0).exceeded(2, 10));
/// assert_eq!(MaxSkipped::Percent(2.5).to_string(), "2.5%");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxSkipped {
    /// At most this many invalid items.
    Items(u64),
    /// At most this percentage (0 to 100) of the items read.
    Percent(f64),
}

impl MaxSkipped {
    /// Whether `invalid` of `total` items read pass the limit.
    pub fn exceeded(self, invalid: u64, total: u64) -> bool {
        match self {
            MaxSkipped::Items(n) => invalid > n,
            MaxSkipped::Percent(p) => invalid as f64 * 100.0 > p * total as f64,
        }
    }
}

impl fmt::Display for MaxSkipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxSkipped::Items(n) => write!(f, "{n}"),
            MaxSkipped::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The options of one call. `Options::default()` gives the defaults of the README's options
/// table (Bulkinup's).
///
/// ```
/// use bulkinup::{ConflictAction, Options};
/// let opts = Options::default()
///     .chunk_size(500)
///     .on_conflict("Tag", ConflictAction::Nothing)
///     .replace_all_except(["inserted_at"]);
/// assert_eq!(opts.chunk_size, 500);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The changeset used for the root schema's items (default `changeset`).
    pub changeset: String,
    /// Items per chunk, and rows per statement per table (default 1000, ≥ 1).
    pub chunk_size: usize,
    /// Upsert only: fields kept on conflict, in addition to the primary key.
    pub replace_all_except: Vec<String>,
    /// Per schema or join table: the conflict action.
    pub on_conflict: BTreeMap<String, ConflictAction>,
    /// Per schema or join table: the unique columns that conflict.
    pub conflict_target: BTreeMap<String, Vec<String>>,
    /// Validate and plan, count what would be written, write nothing (no connection is
    /// used).
    pub dry_run: bool,
    /// Called once per chunk with the chunk's skipped items.
    pub on_skipped: Option<Handler<[Skipped]>>,
    /// Called after each chunk with the running summary (for progress reports), and once
    /// more after a one-transaction call's commit succeeded, with
    /// [`Summary::committed`] set: before it, the rows counted were sent, not committed.
    pub on_progress: Option<Handler<Summary>>,
    /// With `max_concurrency` only: called as soon as each chunk has committed, with its
    /// input ranges and everything committed so far ([`Committed`]), one call at a time (so
    /// that what an interrupted caller last heard is what had committed by then, but for a
    /// chunk whose commit was under way).
    pub on_committed: Option<Handler<Committed>>,
    /// Per schema (by name) or join table: `field → value` shared by every row, injected
    /// into the attrs before validation.
    pub placeholders: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Per schema (by name): `field → fallback` used to recover an invalid changeset.
    pub recover_changeset_errors: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Limit for the whole transaction (per chunk with `max_concurrency`) and each
    /// statement; `None` for no limit. Default 15 s ([`DEFAULT_TIMEOUT`]); the command-line
    /// tool's default is `None` ([`Layer::command_line_defaults`]).
    ///
    /// Enforced on the client's clock, whatever the server or the network does: it is
    /// checked before each statement and before the commit, and each statement (the
    /// `BEGIN`, the commit and the prefix checks too) is abandoned when it has not answered
    /// by the time the limit ends (see [`Options::statement_timeout`]).
    ///
    /// It bounds, the same way, all the catalog queries of
    /// [`catalog::infer_with`](crate::catalog::infer_with) and
    /// [`catalog::check_with`](crate::catalog::check_with) together, and the one query of
    /// [`Db::fetch_json_within`](crate::Db::fetch_json_within) or
    /// [`Db::execute_script_within`](crate::Db::execute_script_within).
    pub timeout: Option<Duration>,
    /// Limit for each statement of a call: its `BEGIN`, every write, the commit, and each
    /// check of a prefix before writing. `None` (the default): no limit of its own, so each
    /// statement is bounded by what remains of [`timeout`](Options::timeout). More than 0.
    ///
    /// A statement may wait at most `min(statement_timeout, what remains of timeout)`:
    /// - The database is told the same limit where it has one (PostgreSQL `statement_timeout`,
    ///   MariaDB `max_statement_time`, SQLite's busy wait for a lock held by another writer):
    ///   a statement it cancels, or a lock wait that ends, fails the call with
    ///   [`Error::Timeout`](crate::Error::Timeout) saying so.
    /// - The client enforces it too, so that a server or network that stops answering
    ///   cannot hang the call: on PostgreSQL and MySQL/MariaDB a statement that has no answer
    ///   when the limit ends (plus a grace of a tenth of it, at most 1 s, for the server's own
    ///   cancellation to arrive first; no grace past the end of `timeout`) is abandoned, its
    ///   connection is closed instead of going back to the pool, the call fails with
    ///   [`Error::Timeout`](crate::Error::Timeout) ("the server did not answer") and nothing
    ///   of it is committed. SQLite runs in-process and is never abandoned mid-statement
    ///   (its connection may hold the only copy of an in-memory database).
    ///
    /// Each catalog query of [`catalog::infer_with`](crate::catalog::infer_with) and
    /// [`catalog::check_with`](crate::catalog::check_with), and the query of
    /// [`Db::fetch_json_within`](crate::Db::fetch_json_within) or
    /// [`Db::execute_script_within`](crate::Db::execute_script_within), is bounded by it on
    /// the client's clock too (the database is not told it).
    ///
    /// The command-line tool's default is 60 s
    /// ([`CLI_DEFAULT_STATEMENT_TIMEOUT`], `--statement-timeout`).
    ///
    /// ```
    /// # use bulkinup::Options;
    /// # use std::time::Duration;
    /// let opts = Options::default()
    ///     .timeout(None)
    ///     .statement_timeout(Some(Duration::from_secs(30)));
    /// assert_eq!(opts.statement_timeout, Some(Duration::from_secs(30)));
    /// ```
    pub statement_timeout: Option<Duration>,
    /// Write up to N chunks at once, each in its own transaction on its own connection.
    pub max_concurrency: Option<usize>,
    /// Limit for connecting to the database ([`Db::connect_timeout`](crate::Db::connect_timeout)):
    /// a server that refuses, or does not answer within it, fails the connection. Always
    /// finite (there is no `infinity`: a server that accepts and never answers would hang the
    /// call for good), more than 0. Default 10 s. A call itself does not connect: the
    /// command-line tool reads it to connect (also for `schema infer` and `schema check`,
    /// through [`Db::connect_read_only_timeout`](crate::Db::connect_read_only_timeout)).
    pub connect_timeout: Duration,
    /// The longest input item, in bytes, that the [input reader](crate::input) accepts: a
    /// longer NDJSON line or JSON-array element is malformed input ([`Error::Input`]), found
    /// without buffering more than about the limit. More than 0. Default 256 MiB
    /// ([`DEFAULT_MAX_ITEM_BYTES`]). A call itself reads no input: the command-line tool reads
    /// it to read its inputs ([`input::stream`](crate::input::stream)).
    pub max_item_bytes: usize,
    /// Called once per chunk with the recovered changesets as they were before recovery.
    pub on_recovered: Option<Handler<[Changeset]>>,
    /// The writer hook (Bulkinup's `insert_all_function`).
    pub writer: Option<WriterHook>,
    /// A `has_many`/`has_one` child whose foreign key is absent from its attrs gets its
    /// parent's referenced key before its changeset runs (README, "Beyond Bulkinup").
    pub infer_foreign_keys: bool,
    /// Nested `belongs_to` data is written first (upserted or inserted with the verb), and
    /// the owner's foreign key is taken from it (README, "Beyond Bulkinup").
    pub write_belongs_to: bool,
    /// The prefix of every schema without its own `prefix` (Ecto's `prefix` option): the
    /// PostgreSQL schema, MySQL/MariaDB database or attached SQLite database the tables are
    /// written in. `None`: the connection's current one. It must exist: a call checks it
    /// before anything is written.
    pub prefix: Option<String>,
    /// The call's clock reading: the value of `now()` in placeholders, association
    /// `defaults` and `join_defaults`, and of `timestamps`. `None` (the default): the clock
    /// is read once when the call starts.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// MySQL/MariaDB only: let a conflicting row update whichever existing row any of its
    /// unique keys matches, as `ON DUPLICATE KEY UPDATE` does by itself. Off (the default),
    /// a row that collides with a different row through a unique key other than its
    /// conflict target is a unique violation (and the call is rolled back), as on
    /// PostgreSQL and SQLite. Turning it on risks overwriting a row the input never named
    /// (and a summary whose row counts disagree with the table). No effect on PostgreSQL and
    /// SQLite, whose conflict clause names its target.
    pub any_unique_key: bool,
    /// The most invalid (skipped) items the call accepts ([`MaxSkipped`]); `None` (the
    /// default): no limit, every item may be skipped and the call still succeeds. Passing it
    /// fails the call with [`Error::TooManyInvalid`](crate::Error::TooManyInvalid): rolled
    /// back in one transaction (nothing written); with `max_concurrency`, the chunks
    /// committed before stay committed.
    pub max_skipped: Option<MaxSkipped>,
    /// What the call does when the database refuses a row ([`OnError`]; default
    /// [`OnError::Rollback`]).
    pub on_error: OnError,
    /// Called once per chunk with the items the database refused, with
    /// [`OnError::Reject`].
    pub on_rejected: Option<Handler<[Rejected]>>,
    /// Keep only the top-level items that fall to this part of the input ([`Shard`]), so
    /// that several processes given the same input write it together, each item once.
    /// `None` (the default): every item.
    pub shard: Option<Shard>,
}

/// What the writer hook is told about a write besides its batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteContext {
    /// The verb of the call.
    pub verb: Verb,
    /// The call's timeout.
    pub timeout: Option<Duration>,
    /// The database's dialect name (`SQLite`, `PostgreSQL`, `MySQL`).
    pub database: &'static str,
}

/// The writer hook: receives each write — a [`Batch`] with its table, columns, rows and
/// conflict clause — and returns the batches the default writer should write instead: the
/// same batch (delegate), an altered one, several, or none (the hook handled it itself).
/// An `Err` aborts the call and rolls it back.
#[derive(Clone)]
pub struct WriterHook(pub Arc<WriteFn>);

/// The function behind a [`WriterHook`].
pub type WriteFn = dyn Fn(&WriteContext, Batch) -> Result<Vec<Batch>> + Send + Sync;

impl fmt::Debug for WriterHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriterHook(..)")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            changeset: "changeset".into(),
            chunk_size: 1000,
            replace_all_except: Vec::new(),
            on_conflict: BTreeMap::new(),
            conflict_target: BTreeMap::new(),
            dry_run: false,
            on_skipped: None,
            on_progress: None,
            on_committed: None,
            placeholders: BTreeMap::new(),
            recover_changeset_errors: BTreeMap::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            statement_timeout: None,
            max_concurrency: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
            on_recovered: None,
            writer: None,
            infer_foreign_keys: false,
            write_belongs_to: false,
            prefix: None,
            now: None,
            any_unique_key: false,
            max_skipped: None,
            on_error: OnError::Rollback,
            on_rejected: None,
            shard: None,
        }
    }
}

impl Options {
    /// Sets the root changeset's name.
    pub fn changeset(mut self, name: impl Into<String>) -> Self {
        self.changeset = name.into();
        self
    }

    /// Sets `chunk_size`.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n;
        self
    }

    /// Sets `replace_all_except` (upsert only).
    pub fn replace_all_except<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.replace_all_except = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the conflict action of a schema (by name) or join table.
    pub fn on_conflict(mut self, key: impl Into<String>, action: ConflictAction) -> Self {
        self.on_conflict.insert(key.into(), action);
        self
    }

    /// Validate and plan only: nothing is written.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Sets the handler called once per chunk with the chunk's skipped items.
    ///
    /// ```
    /// use bulkinup::Options;
    /// let opts = Options::default().on_skipped(|skipped| {
    ///     for s in skipped {
    ///         eprintln!("{}: {}", s.changeset.primary_key_json(), s.changeset.errors_json());
    ///     }
    /// });
    /// # let _ = opts;
    /// ```
    pub fn on_skipped<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Skipped]) + Send + Sync + 'static,
    {
        self.on_skipped = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets the handler called after each chunk with the running summary, and once more after
    /// a one-transaction call's commit ([`Summary::committed`] says whether the rows it
    /// counts are committed).
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: Fn(&Summary) + Send + Sync + 'static,
    {
        self.on_progress = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets the handler called, with `max_concurrency`, as soon as each chunk has committed
    /// (see [`Options::on_committed`](Options#structfield.on_committed)).
    ///
    /// ```
    /// use bulkinup::{InputRange, Options};
    /// let opts = Options::default()
    ///     .max_concurrency(4)
    ///     .on_committed(|c| eprintln!("{}", InputRange::describe_committed(&c.so_far)));
    /// # let _ = opts;
    /// ```
    pub fn on_committed<F>(mut self, f: F) -> Self
    where
        F: Fn(&Committed) + Send + Sync + 'static,
    {
        self.on_committed = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets a placeholder: `field` of every row of `key` (a schema name or join table) gets
    /// `value`, injected into the attrs before validation (so it can be `required`),
    /// replacing any per-row value, and written whether or not the changeset casts it.
    ///
    /// ```
    /// use bulkinup::Options;
    /// use serde_json::json;
    /// let opts = Options::default().placeholder("Post", "inserted_at", json!("2024-01-01T00:00:00Z"));
    /// # let _ = opts;
    /// ```
    pub fn placeholder(
        mut self,
        key: impl Into<String>,
        field: impl Into<String>,
        value: serde_json::Value,
    ) -> Self {
        self.placeholders
            .entry(key.into())
            .or_default()
            .insert(field.into(), value);
        self
    }

    /// Sets a fallback for `field` of schema `schema`: an invalid changeset whose every error
    /// has a fallback (and whose nested changesets all recover) is recovered with them.
    pub fn recover(
        mut self,
        schema: impl Into<String>,
        field: impl Into<String>,
        fallback: serde_json::Value,
    ) -> Self {
        self.recover_changeset_errors
            .entry(schema.into())
            .or_default()
            .insert(field.into(), fallback);
        self
    }

    /// Sets the timeout (`None`: no limit).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the statement timeout (`None`: no limit of its own; each statement is then
    /// bounded by what remains of the timeout).
    pub fn statement_timeout(mut self, limit: Option<Duration>) -> Self {
        self.statement_timeout = limit;
        self
    }

    /// Writes up to `n` chunks at once, each in its own transaction.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// Sets the connect timeout (more than 0; there is no "no limit").
    ///
    /// ```
    /// # use bulkinup::Options;
    /// # use std::time::Duration;
    /// let opts = Options::default().connect_timeout(Duration::from_secs(2));
    /// assert_eq!(opts.connect_timeout, Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Sets the longest input item the reader accepts, in bytes (more than 0).
    ///
    /// ```
    /// # use bulkinup::Options;
    /// let opts = Options::default().max_item_bytes(64 << 20);
    /// assert_eq!(opts.max_item_bytes, 64 << 20);
    /// ```
    pub fn max_item_bytes(mut self, limit: usize) -> Self {
        self.max_item_bytes = limit;
        self
    }

    /// Sets the handler called once per chunk with the recovered changesets, as they were
    /// before recovery.
    pub fn on_recovered<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Changeset]) + Send + Sync + 'static,
    {
        self.on_recovered = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets the writer hook.
    ///
    /// ```
    /// use bulkinup::Options;
    /// // Delegate every write to the default writer, dropping rows of one table.
    /// let opts = Options::default().writer(|_ctx, batch| {
    ///     Ok(if batch.table == "audit" { vec![] } else { vec![batch] })
    /// });
    /// # let _ = opts;
    /// ```
    pub fn writer<F>(mut self, f: F) -> Self
    where
        F: Fn(&WriteContext, Batch) -> Result<Vec<Batch>> + Send + Sync + 'static,
    {
        self.writer = Some(WriterHook(Arc::new(f)));
        self
    }

    /// Infers the foreign keys of `has_many`/`has_one` children from their parent.
    ///
    /// ```
    /// # use bulkinup::Options;
    /// let opts = Options::default().infer_foreign_keys(true);
    /// # let _ = opts;
    /// ```
    pub fn infer_foreign_keys(mut self, yes: bool) -> Self {
        self.infer_foreign_keys = yes;
        self
    }

    /// Writes nested `belongs_to` rows before their owners.
    ///
    /// ```
    /// # use bulkinup::Options;
    /// let opts = Options::default().write_belongs_to(true);
    /// # let _ = opts;
    /// ```
    pub fn write_belongs_to(mut self, yes: bool) -> Self {
        self.write_belongs_to = yes;
        self
    }

    /// Sets the prefix of every schema without its own: the PostgreSQL schema, the
    /// MySQL/MariaDB database or the attached SQLite database to write in.
    ///
    /// ```
    /// # use bulkinup::Options;
    /// let opts = Options::default().prefix("analytics");
    /// # let _ = opts;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// MySQL/MariaDB only: a conflicting row updates whichever row any unique key matches
    /// (`ON DUPLICATE KEY UPDATE` as it is), instead of being a unique violation when that
    /// row is not the one its conflict target names ([`Options::any_unique_key`]).
    ///
    /// ```
    /// # use bulkinup::Options;
    /// let opts = Options::default().any_unique_key(true);
    /// assert!(opts.any_unique_key);
    /// ```
    pub fn any_unique_key(mut self, yes: bool) -> Self {
        self.any_unique_key = yes;
        self
    }

    /// Sets `max_skipped`: the most invalid items the call accepts ([`MaxSkipped`]).
    ///
    /// ```
    /// # use bulkinup::{MaxSkipped, Options};
    /// let opts = Options::default().max_skipped(MaxSkipped::Percent(1.0));
    /// assert_eq!(opts.max_skipped, Some(MaxSkipped::Percent(1.0)));
    /// ```
    pub fn max_skipped(mut self, limit: MaxSkipped) -> Self {
        self.max_skipped = Some(limit);
        self
    }

    /// Sets `on_error`: what the call does when the database refuses a row ([`OnError`]).
    ///
    /// ```
    /// # use bulkinup::{OnError, Options};
    /// let opts = Options::default().on_error(OnError::Reject);
    /// assert_eq!(opts.on_error, OnError::Reject);
    /// ```
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Sets the handler of the items the database refused ([`OnError::Reject`]), called
    /// once per chunk.
    ///
    /// ```
    /// # use bulkinup::{OnError, Options};
    /// let opts = Options::default().on_error(OnError::Reject).on_rejected(|rejected| {
    ///     for r in rejected {
    ///         eprintln!("{:?}: {}", r.item.origin, r.error);
    ///     }
    /// });
    /// assert!(opts.on_rejected.is_some());
    /// ```
    pub fn on_rejected<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Rejected]) + Send + Sync + 'static,
    {
        self.on_rejected = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets `shard`: keep only the items that fall to this part of the input ([`Shard`]).
    ///
    /// ```
    /// # use bulkinup::{Options, Shard};
    /// let opts = Options::default().shard(Shard::new(1, 3)?);
    /// assert_eq!(opts.shard.map(|s| s.to_string()), Some("1/3".into()));
    /// # Ok::<(), bulkinup::Error>(())
    /// ```
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Sets the call's clock reading (the value of `now()` and of timestamps).
    pub fn now(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        self.now = Some(now);
        self
    }

    /// Sets the conflict target of a schema (by name) or join table.
    pub fn conflict_target<I, S>(mut self, key: impl Into<String>, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.conflict_target
            .insert(key.into(), columns.into_iter().map(Into::into).collect());
        self
    }

    /// Checks every option against the registry, the root schema and the verb, as a call
    /// does before writing anything — without a database.
    ///
    /// ```
    /// use bulkinup::{Options, Registry, Verb};
    /// let registry = Registry::from_toml_str(r#"
    ///     [schemas.Tag]
    ///     source = "tags"
    ///     fields = { id = "integer", name = "string" }
    ///     changesets.changeset = { cast = ["id", "name"] }
    /// "#, "inline")?.registry;
    /// let opts = Options::default().replace_all_except(["name"]);
    /// assert!(opts.validate(&registry, Verb::Upsert, "Tag").is_ok());
    /// assert!(opts.validate(&registry, Verb::Insert, "Tag").is_err());
    /// # Ok::<(), bulkinup::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] or [`Error::Schema`], naming the option and the valid choices.
    pub fn validate(&self, registry: &Registry, verb: Verb, root: &str) -> Result<()> {
        self.resolve(registry, verb, root).map(drop)
    }

    /// Checks every option against the registry and the verb.
    pub(crate) fn resolve(
        &self,
        registry: &Registry,
        verb: Verb,
        root: &str,
    ) -> Result<ResolvedOptions> {
        self.resolve_at(registry, verb, root, &RefCell::new(None))
    }

    /// As [`Options::resolve`], leaving in `at` the entry of a map option (key, and field for
    /// the maps of fields) that was being checked when an error came up, so that the caller
    /// can name where that entry was given ([`Layer::locate`]).
    pub(crate) fn resolve_at(
        &self,
        registry: &Registry,
        verb: Verb,
        root: &str,
        at: &RefCell<Option<(String, Option<String>)>>,
    ) -> Result<ResolvedOptions> {
        let entry = |key: &str, field: Option<&str>| {
            at.replace(Some((key.to_string(), field.map(str::to_string))));
        };
        if self.chunk_size == 0 {
            return Err(Error::option(
                "chunk_size",
                "must be at least 1",
                Some("a whole number ≥ 1"),
            ));
        }
        let root_schema = registry.get(root)?;
        root_schema.resolved_changeset(&self.changeset)?;
        if verb == Verb::Insert && !self.replace_all_except.is_empty() {
            return Err(Error::option(
                "replace_all_except",
                "only applies to an upsert, not to an insert",
                None,
            ));
        }
        for f in &self.replace_all_except {
            if root_schema.field(f).is_none() && !any_schema_has(registry, f) {
                return Err(Error::option(
                    "replace_all_except",
                    format!("no schema has a field `{f}`"),
                    None,
                ));
            }
        }
        let joins = registry.join_tables();
        let keys_valid = || {
            let mut v: Vec<&str> = registry.schema_names();
            v.extend(joins.iter().copied());
            Choices(&v).to_string()
        };
        for (key, action) in &self.on_conflict {
            entry(key, None);
            let fields = match action {
                ConflictAction::Replace(f) | ConflictAction::ReplaceAllExcept(f) => f.as_slice(),
                _ => &[],
            };
            check_key(registry, &joins, "on_conflict", key, fields, &keys_valid)?;
        }
        for (key, cols) in &self.conflict_target {
            entry(key, None);
            if cols.is_empty() {
                return Err(Error::option(
                    "conflict_target",
                    format!("`{key}`: give at least one column"),
                    None,
                ));
            }
            check_key(registry, &joins, "conflict_target", key, &[], &keys_valid)?;
            if let Ok(s) = registry.get(key) {
                for c in cols {
                    if !s.fields.iter().any(|f| &f.column == c || &f.name == c) {
                        return Err(Error::option(
                            "conflict_target",
                            format!("schema `{key}` has no column `{c}`"),
                            None,
                        ));
                    }
                }
            }
        }
        at.replace(None);
        if verb == Verb::Upsert {
            for name in registry.schema_names() {
                let s = registry.get(name)?;
                if !s.embedded
                    && s.primary_key.is_empty()
                    && !self.conflict_target.contains_key(name)
                {
                    // Only an error if the schema is reachable from the root; checked lazily
                    // would be later than "before anything is written", so check reachability.
                    if registry.reachable_from(root).iter().any(|r| r.name == name) {
                        return Err(Error::option(
                            "conflict_target",
                            format!(
                                "schema `{name}` has no primary key: an upsert needs a `conflict_target` for it"
                            ),
                            None,
                        ));
                    }
                }
            }
        }
        if self.max_concurrency == Some(0) {
            return Err(Error::option(
                "max_concurrency",
                "must be at least 1",
                Some("a whole number ≥ 1"),
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::option(
                "connect_timeout",
                "must be more than 0 seconds",
                Some(value::CONNECT_TIMEOUT_VALUES),
            ));
        }
        if let Some(MaxSkipped::Percent(p)) = self.max_skipped
            && !(0.0..=100.0).contains(&p)
        {
            return Err(Error::option(
                "max_skipped",
                format!("{p}% is not a percentage from 0% to 100%"),
                Some(value::MAX_SKIPPED_VALUES),
            ));
        }
        if self.max_item_bytes == 0 {
            return Err(Error::option(
                "max_item_bytes",
                "must be at least 1 byte",
                Some(value::BYTES_VALUES),
            ));
        }
        if self.statement_timeout.is_some_and(|l| l.is_zero()) {
            return Err(Error::option(
                "statement_timeout",
                "must be more than 0 seconds",
                Some(value::TIMEOUT_VALUES),
            ));
        }
        let n = registry.inner.schemas.len();
        let mut placeholders: Vec<Vec<(usize, serde_json::Value)>> = vec![Vec::new(); n];
        let mut join_placeholders = BTreeMap::new();
        for (key, fields) in &self.placeholders {
            entry(key, fields.keys().next().map(String::as_str));
            check_key(registry, &joins, "placeholders", key, &[], &keys_valid)?;
            match registry.get(key) {
                Ok(s) => {
                    for (f, v) in fields {
                        entry(key, Some(f));
                        let fi = field_for_option(s, "placeholders", f)?;
                        cast_value(&s.fields[fi].ty, v).map_err(|()| {
                            Error::option(
                                "placeholders",
                                format!("`{key}.{f}`: {v} is not a valid `{}`", s.fields[fi].ty),
                                None,
                            )
                        })?;
                        placeholders[s.index].push((fi, v.clone()));
                    }
                }
                Err(_) => {
                    let cols: Vec<(String, crate::schema::Value)> = fields
                        .iter()
                        .map(|(c, v)| (c.clone(), crate::schema::Value::guess_from_json(v)))
                        .collect();
                    join_placeholders.insert(key.clone(), cols);
                }
            }
        }
        // Timestamps: one clock reading per call, set like placeholders (an explicit
        // placeholder for the same field wins).
        at.replace(None);
        if let Some(p) = &self.prefix {
            crate::schema::check_identifier(p).map_err(|m| Error::option("prefix", m, None))?;
        }
        let clock = self.now.unwrap_or_else(chrono::Utc::now);
        let now = crate::changeset::clock_json(clock);
        for s in &registry.inner.schemas {
            if let Some((ins, upd)) = s.timestamps {
                for fi in [ins, upd] {
                    if !placeholders[s.index].iter().any(|(f, _)| *f == fi) {
                        placeholders[s.index].push((fi, now.clone()));
                    }
                }
            }
        }
        let mut recover: Vec<Vec<(usize, crate::schema::Value)>> = vec![Vec::new(); n];
        for (key, fields) in &self.recover_changeset_errors {
            entry(key, fields.keys().next().map(String::as_str));
            let s = registry.get(key).map_err(|_| {
                Error::option(
                    "recover_changeset_errors",
                    format!(
                        "unknown schema `{key}`{}",
                        layer::did_you_mean(key, &registry.schema_names())
                    ),
                    Some(&Choices(&registry.schema_names()).to_string()),
                )
            })?;
            for (f, v) in fields {
                entry(key, Some(f));
                if s.assoc_index.contains_key(f) {
                    return Err(Error::option(
                        "recover_changeset_errors",
                        format!(
                            "`{key}.{f}` is an association or embed: errors on it are never recoverable"
                        ),
                        None,
                    ));
                }
                let fi = field_for_option(s, "recover_changeset_errors", f)?;
                let value = cast_value(&s.fields[fi].ty, v).map_err(|()| {
                    Error::option(
                        "recover_changeset_errors",
                        format!("`{key}.{f}`: {v} is not a valid `{}`", s.fields[fi].ty),
                        None,
                    )
                })?;
                recover[s.index].push((fi, value));
            }
        }
        let policy = Arc::new(Policy {
            verb,
            conflict: ConflictPolicy {
                verb,
                replace_all_except: self.replace_all_except.clone(),
                on_conflict: self.on_conflict.clone(),
                conflict_target: self.conflict_target.clone(),
            },
            placeholders: placeholders.clone(),
            join_placeholders,
            write_belongs_to: self.write_belongs_to,
            prefix: self.prefix.clone(),
            clock,
        });
        Ok(ResolvedOptions {
            verb,
            options: Arc::new(self.clone()),
            placeholders,
            recover,
            now,
            policy,
            bulk_load: true,
        })
    }
}

fn field_for_option(s: &Schema, option: &str, f: &str) -> Result<usize> {
    s.field_index
        .get(f)
        .copied()
        .filter(|&i| s.fields[i].ty != crate::schema::FieldType::Embed)
        .ok_or_else(|| no_field(s, option, f))
}

/// `schema `S` has no field `f``, with the closest field and the valid ones.
fn no_field(s: &Schema, option: &str, f: &str) -> Error {
    let names: Vec<&str> = s
        .fields
        .iter()
        .filter(|f| f.ty != crate::schema::FieldType::Embed)
        .map(|f| f.name.as_str())
        .collect();
    Error::option(
        option,
        format!(
            "schema `{}` has no field `{f}`{}",
            s.name,
            layer::did_you_mean(f, &names)
        ),
        Some(&Choices(&names).to_string()),
    )
}

fn any_schema_has(registry: &Registry, field: &str) -> bool {
    registry
        .schema_names()
        .iter()
        .filter_map(|n| registry.get(n).ok())
        .any(|s| s.field(field).is_some())
}

fn check_key(
    registry: &Registry,
    joins: &[&str],
    option: &str,
    key: &str,
    fields: &[String],
    valid: &dyn Fn() -> String,
) -> Result<()> {
    if let Ok(s) = registry.get(key) {
        for f in fields {
            if s.field(f).is_none() {
                return Err(no_field(s, option, f));
            }
        }
        Ok(())
    } else if joins.contains(&key) {
        Ok(())
    } else {
        let mut names = registry.schema_names();
        names.extend(joins.iter().copied());
        Err(Error::option(
            option,
            format!(
                "unknown schema or join table `{key}`{}",
                layer::did_you_mean(key, &names)
            ),
            Some(&valid()),
        ))
    }
}

/// Options checked against the registry, for one verb.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedOptions {
    pub(crate) verb: Verb,
    pub(crate) options: Arc<Options>,
    /// Per schema index: (field, raw JSON) injected before validation.
    pub(crate) placeholders: Vec<Vec<(usize, serde_json::Value)>>,
    /// Per schema index: (field, fallback).
    pub(crate) recover: Vec<Vec<(usize, crate::schema::Value)>>,
    /// The call's clock reading as the JSON string `now()` stands for.
    pub(crate) now: serde_json::Value,
    /// What the planner reads.
    pub(crate) policy: Arc<Policy>,
    /// Whether plain inserts may use the database's bulk loader (PostgreSQL's binary
    /// `COPY`); off by the URL's `bulkinup_copy=off`.
    pub(crate) bulk_load: bool,
}

impl IntoPolicy for Arc<ResolvedOptions> {
    fn into_policy(self) -> Arc<Policy> {
        Arc::clone(&self.policy)
    }
}
