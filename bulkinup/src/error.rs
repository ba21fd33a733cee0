//! The error type of every fallible call, with one variant per pipeline stage.
//!
//! Invalid *items* are not errors: they are data, counted in the
//! [`Summary`](crate::Summary) and reported through the skipped-items warning and
//! the `on_skipped` handler. An [`Error`] means the call itself failed: a broken
//! schema or option (nothing was touched), malformed input or a failure while writing
//! (the transaction was rolled back).

use std::fmt;

use crate::item::InputRange;

/// What kind of database failure an [`Error::Database`] is, so callers can branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// A unique or primary-key constraint was violated (a duplicate row).
    UniqueViolation,
    /// A foreign-key constraint was violated (a child without its parent).
    ForeignKeyViolation,
    /// A `NOT NULL` constraint was violated.
    NotNullViolation,
    /// A `CHECK` constraint was violated.
    CheckViolation,
    /// Anything else: syntax, connection, missing table, …
    Other,
}

impl From<sqlx::error::ErrorKind> for DbErrorKind {
    fn from(kind: sqlx::error::ErrorKind) -> Self {
        use sqlx::error::ErrorKind as K;
        match kind {
            K::UniqueViolation => DbErrorKind::UniqueViolation,
            K::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
            K::NotNullViolation => DbErrorKind::NotNullViolation,
            K::CheckViolation => DbErrorKind::CheckViolation,
            _ => DbErrorKind::Other,
        }
    }
}

/// What a call was waiting for when its limit passed ([`Error::Timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waited {
    /// Nothing in particular: the call's `timeout` had passed when its next statement or
    /// its commit was due (input is read inside the transaction too).
    Call,
    /// The server's answer to a statement, which did not come: the client abandoned the
    /// statement when its limit passed and closed its connection (never returned to the
    /// pool mid-protocol). The server, or the network to it, may be stalled.
    Answer,
    /// The server's answer to the commit, which did not come within the limit: as
    /// [`Waited::Answer`], but the server may have committed before the network or the
    /// server stalled, so whether the transaction was committed is unknown.
    CommitAnswer,
    /// The database itself cancelled the statement at its limit (PostgreSQL
    /// `statement_timeout`, MariaDB `max_statement_time`).
    ServerLimit,
    /// A lock held by another writer (SQLite: another connection's write lock, waited for
    /// up to the limit).
    Lock,
    /// The server's answer to a query run on a connection of its own, outside any
    /// transaction of a call — a catalog query of schema inference or of a schema check
    /// ([`catalog::infer_with`](crate::catalog::infer_with),
    /// [`catalog::check_with`](crate::catalog::check_with)), the catalog read of
    /// [`apply_ddl`](crate::apply_ddl) before its transaction,
    /// [`Db::fetch_json_within`](crate::Db::fetch_json_within),
    /// [`Db::execute_script_within`](crate::Db::execute_script_within) — which did not
    /// come: the client abandoned the query when its limit passed and closed its
    /// connection. There is no transaction to roll back: a query that reads wrote nothing;
    /// what a script had done before the stall is as the server left it.
    Query,
}

impl Waited {
    /// What became of the transaction.
    pub fn outcome(self) -> &'static str {
        match self {
            Waited::CommitAnswer => "whether the transaction was committed is unknown",
            Waited::Query => "it ran outside any transaction",
            _ => "the transaction was rolled back",
        }
    }

    /// The words of the message, for a limit of `seconds` set by `option`.
    fn describe(self, seconds: f64, option: &str) -> String {
        let within = match option {
            "timeout" => "before the call's time ran out".to_string(),
            _ => format!("within {seconds} s"),
        };
        match self {
            Waited::Call => "the call's time ran out between statements".to_string(),
            Waited::Answer => format!(
                "the server did not answer {within}, so the statement was abandoned and its connection closed"
            ),
            Waited::CommitAnswer => {
                format!("the server did not answer the commit {within}; its connection was closed")
            }
            Waited::ServerLimit => "the database cancelled the statement at its limit".to_string(),
            Waited::Lock if option == "timeout" => {
                "waited for a lock held by another writer until the call's time ran out".to_string()
            }
            Waited::Lock => format!("waited {seconds} s for a lock held by another writer"),
            Waited::Query => format!(
                "the server did not answer the query {within}, so it was abandoned and its connection closed"
            ),
        }
    }
}

/// The input item an error is about: where it came from, its schema and its primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRef {
    /// Where the item came from (file and line, or array element), when known.
    pub origin: Option<crate::Origin>,
    /// The item's (root) schema.
    pub schema: String,
    /// Its primary key as the input gave it (`null` when it has none; an array for a
    /// composite key).
    pub primary_key: serde_json::Value,
}

/// `at feed.ndjson:3 (Author, primary key 7)`, `at feed.json element 3 (…)`, and for an
/// item that came from no file (the library's iterators) `(Author, primary key 7)`.
///
/// ```
/// use bulkinup::{ItemRef, Origin};
/// let mut item = ItemRef {
///     origin: Some(Origin { file: "feed.json".into(), line: None, index: Some(3) }),
///     schema: "Author".into(),
///     primary_key: serde_json::json!(7),
/// };
/// assert_eq!(item.to_string(), "at feed.json element 3 (Author, primary key 7)");
/// item.origin = None;
/// assert_eq!(item.to_string(), "(Author, primary key 7)");
/// ```
impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.origin {
            match (o.line, o.index) {
                (Some(line), _) => write!(f, "at {}:{line} ", o.file)?,
                (None, Some(index)) => write!(f, "at {} element {index} ", o.file)?,
                (None, None) => write!(f, "in {} ", o.file)?,
            }
        }
        write!(f, "({}", self.schema)?;
        match &self.primary_key {
            serde_json::Value::Null => f.write_str(", no primary key)"),
            key => write!(f, ", primary key {key})"),
        }
    }
}

/// Everything that can make a bulkinup call fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema (from the builder or the TOML schema file) is inconsistent. Reported before
    /// any database work.
    #[error(
        "schema error{}: {message}{}",
        schema_ctx(schema, key),
        loc_ctx(location)
    )]
    Schema {
        /// The schema the problem is in, when there is one.
        schema: Option<String>,
        /// The key (path inside the schema) the problem is at, e.g. `changesets.changeset.cast`.
        key: Option<String>,
        /// Where in the schema file, as `FILE:LINE:COLUMN`, when the schema came from a file.
        location: Option<String>,
        /// What is wrong.
        message: String,
    },

    /// An option is unknown, out of range, or does not apply. Reported before anything is
    /// written.
    #[error("{}{message}{}", option_head(name), valid_ctx(valid))]
    InvalidOption {
        /// The option's name, as in the docs (`chunk_size`, `on_conflict`, …).
        name: String,
        /// What is wrong with it.
        message: String,
        /// The valid choices, when they can be listed (never empty: an empty list is not
        /// shown).
        valid: Option<String>,
    },

    /// An input item could not be read (malformed JSON and the like). The call is rolled
    /// back.
    #[error("malformed input{}: {message}", input_ctx(file, *line))]
    Input {
        /// The input file (`-` for standard input), when known.
        file: Option<String>,
        /// The 1-based line (or array element) of the input, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },

    /// The database refused a statement, or the connection failed. The transaction was
    /// rolled back.
    ///
    /// When the database refused a row (a constraint violation, a value it does not accept),
    /// `item` names the input item whose rows it refused: the call found it by writing the
    /// failing chunk's items again in halves, each in a savepoint, down to one item.
    ///
    /// ```
    /// use bulkinup::{Error, ItemRef, Origin};
    /// let e = Error::database(Some("posts"), sqlx::Error::Protocol("violates a foreign key".into()))
    ///     .with_item(ItemRef {
    ///         origin: Some(Origin { file: "feed.ndjson".into(), line: Some(3), index: None }),
    ///         schema: "Author".into(),
    ///         primary_key: serde_json::json!(7),
    ///     });
    /// assert_eq!(
    ///     e.to_string(),
    ///     "database error writing table `posts`, for the item at feed.ndjson:3 \
    ///      (Author, primary key 7): encountered unexpected or invalid data: violates a foreign key"
    /// );
    /// ```
    #[error(
        "database error{}{}: {message}{}{}",
        table.as_ref().map(|t| format!(" writing table `{t}`")).unwrap_or_default(),
        item.as_ref().map(|i| format!(", for the item {i}")).unwrap_or_default(),
        detail.as_ref().map(|d| format!("; detail: {d}")).unwrap_or_default(),
        hint.as_ref().map(|h| format!("; hint: {h}")).unwrap_or_default(),
    )]
    Database {
        /// The table the failing statement wrote to, when the failure came from a write.
        table: Option<String>,
        /// The kind of violation, as sqlx classifies it.
        kind: DbErrorKind,
        /// The database's own error code (SQLSTATE on PostgreSQL, error number on MySQL).
        code: Option<String>,
        /// The violated constraint, when the database names it.
        constraint: Option<String>,
        /// The database's message.
        message: String,
        /// The database's detail (PostgreSQL's `DETAIL`: `Key (category_id)=(99) is not
        /// present in table "categories".`), when it gives one.
        detail: Option<String>,
        /// The database's hint (PostgreSQL's `HINT`), when it gives one.
        hint: Option<String>,
        /// The input item whose rows the database refused, when it was found.
        item: Option<Box<ItemRef>>,
        /// The underlying driver error.
        #[source]
        source: Box<sqlx::Error>,
    },

    /// The database could not be reached ([`Db::connect_timeout`](crate::Db::connect_timeout)):
    /// the connection was refused or failed, or the server did not answer within the
    /// connect timeout. Nothing was written.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The database URL, its password hidden ([`redact`](crate::redact)).
        url: String,
        /// Why: the operating system's or the database's reason (`connection refused`, …),
        /// or `no answer within N s (--connect-timeout)`.
        reason: String,
        /// The connect timeout in seconds, when it ran out.
        timed_out_after: Option<f64>,
        /// The driver error, when there is one (none when the time ran out).
        #[source]
        source: Option<Box<sqlx::Error>>,
    },

    /// The call (or one chunk of it, with `max_concurrency`) took longer than `timeout`, or
    /// a statement longer than `statement_timeout`. The transaction was rolled back (nothing
    /// of it was committed). A query run on a connection of its own ([`Waited::Query`]: the
    /// catalog reads of schema inference and checks and of [`apply_ddl`](crate::apply_ddl),
    /// a bounded query of [`Db`](crate::Db)) ran outside any transaction.
    ///
    /// ```
    /// use bulkinup::{Error, Waited};
    /// let e = Error::Timeout {
    ///     seconds: 2.0,
    ///     option: "statement_timeout",
    ///     table: Some("posts".into()),
    ///     waited: Waited::Answer,
    /// };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "timed out after 2 s (statement_timeout) writing table `posts`: the server did not \
    ///      answer within 2 s, so the statement was abandoned and its connection closed; \
    ///      the transaction was rolled back"
    /// );
    /// assert_eq!(e.exit_code(), 1);
    ///
    /// let e = Error::Timeout { seconds: 3.0, option: "timeout", table: None, waited: Waited::Query };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "timed out after 3 s (timeout): the server did not answer the query before the \
    ///      call's time ran out, so it was abandoned and its connection closed; it ran \
    ///      outside any transaction"
    /// );
    /// ```
    #[error(
        "timed out after {seconds} s ({option}){}: {}; {}",
        table.as_ref().map(|t| format!(" writing table `{t}`")).unwrap_or_default(),
        waited.describe(*seconds, option),
        waited.outcome()
    )]
    Timeout {
        /// The limit that passed, in seconds.
        seconds: f64,
        /// The option that set it: `timeout` (the whole call, per chunk with
        /// `max_concurrency`; all the catalog queries of a schema inference or check) or
        /// `statement_timeout` (each statement, each catalog query).
        option: &'static str,
        /// The table being written when the limit was reached, when known.
        table: Option<String>,
        /// What the call was waiting for when it passed.
        waited: Waited,
    },

    /// Another writer held the same rows at the same time: a one-transaction call ended in a
    /// deadlock or serialization failure (the [`Error::Database`] in `source`) and was not
    /// tried again — its input could not be read again (an iterator or stream, standard
    /// input), or every one of the
    /// [`CALL_ATTEMPTS`](crate::CALL_ATTEMPTS) attempts of
    /// [`write_restartable`](crate::write_restartable) failed. The whole call was rolled back.
    /// With `max_concurrency` (`--max-concurrency`) each chunk is its own transaction, and a
    /// chunk that hits this is retried on its own.
    ///
    /// ```
    /// # use bulkinup::Error;
    /// let deadlock = Error::database(Some("tags"), sqlx::Error::Protocol("deadlock detected".into()));
    /// let e = Error::Contention { attempts: 1, restartable: false, source: Box::new(deadlock) };
    /// assert_eq!(e.exit_code(), 1);
    /// assert_eq!(e.table(), Some("tags"));
    /// assert!(e.to_string().contains("another writer held the same rows at the same time"));
    /// assert!(e.to_string().contains("--max-concurrency"));
    /// ```
    #[error(
        "{source}: another writer held the same rows at the same time; {}; the whole call was rolled back. With max_concurrency (--max-concurrency N) each chunk is written in its own transaction and retried on its own",
        tried(*attempts, *restartable)
    )]
    Contention {
        /// How many times the call was tried.
        attempts: u32,
        /// Whether the input could be read again (the call was retried up to its attempts).
        restartable: bool,
        /// The database's deadlock or serialization failure of the last attempt.
        source: Box<Error>,
    },

    /// A call with `max_concurrency` (`--max-concurrency`), where each chunk is its own
    /// transaction, failed with the error in `source` — a database error, a timeout,
    /// malformed input, too many invalid items, … — and `committed` says what of its input is
    /// in the database: the input ranges of the chunks that committed (their invalid items
    /// included, skipped), merged and in input order. The rest of the input was rolled back or
    /// not read: writing it again resumes the call. The message is the source's, followed by
    /// the committed ranges in words ([`InputRange::describe_committed`]); the exit status is
    /// the source's. A one-transaction call never returns it.
    ///
    /// ```
    /// use bulkinup::{Error, InputRange, Numbering};
    /// let e = Error::PartlyCommitted {
    ///     committed: vec![InputRange {
    ///         file: Some("feed.ndjson".into()),
    ///         numbering: Numbering::Lines,
    ///         first: 1,
    ///         last: 1000,
    ///     }],
    ///     source: Box::new(Error::GeneratedKeyMissing { table: "posts".into() }),
    /// };
    /// assert!(e.to_string().ends_with(
    ///     "rolled back; committed: lines 1-1000 of `feed.ndjson`; the rest was rolled back or not read"
    /// ));
    /// assert_eq!(e.exit_code(), 1);
    /// assert_eq!(e.table(), Some("posts"));
    /// assert_eq!(e.committed().map(<[_]>::len), Some(1));
    /// ```
    #[error("{source}; {}", InputRange::describe_committed(committed))]
    PartlyCommitted {
        /// The input ranges committed, merged and in input order (empty: nothing was
        /// committed).
        committed: Vec<InputRange>,
        /// Why the call failed.
        source: Box<Error>,
    },

    /// A key the database generated could not be matched to its row: a returned row matched
    /// no row written (the database changed a written value: a trigger, MySQL's truncation
    /// without strict mode), a written row's key did not come back, or a child needed a key
    /// that no row returned. The transaction was rolled back; no key was attached to another
    /// row.
    #[error(
        "table `{table}`: a key generated by the database could not be matched to its row (a returned row matched no row written, or a row's key did not come back); the transaction was rolled back"
    )]
    GeneratedKeyMissing {
        /// The table written without its keys, or the child table whose rows needed one.
        table: String,
    },

    /// A chunk's task (with `max_concurrency`) panicked or was cancelled. Its transaction
    /// was rolled back; chunks committed before it stay.
    #[error("a chunk's task failed: {message}; its transaction was rolled back")]
    Task {
        /// Why the task ended (tokio's report of the panic or cancellation).
        message: String,
    },

    /// More items were invalid than `max_skipped` (`--max-skipped`) allows. Invalid items
    /// are the top-level items skipped by validation. In one transaction the call was rolled
    /// back: nothing was written. With `max_concurrency` the chunks committed before the limit
    /// was passed stay committed (`per_chunk`), and the message says so.
    ///
    /// ```
    /// use bulkinup::{Error, MaxSkipped};
    /// let e = Error::TooManyInvalid {
    ///     invalid: 3,
    ///     total: 10,
    ///     limit: MaxSkipped::Items(2),
    ///     per_chunk: false,
    /// };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "too many invalid items: 3 of 10 skipped (--max-skipped 2); the transaction was rolled back: nothing was written"
    /// );
    /// assert_eq!(e.exit_code(), 4);
    /// ```
    #[error(
        "too many invalid items: {invalid} of {total} skipped (--max-skipped {limit}); {}",
        if *per_chunk {
            "nothing more was written, but the chunks already committed stay committed (--max-concurrency)"
        } else {
            "the transaction was rolled back: nothing was written"
        }
    )]
    TooManyInvalid {
        /// The invalid items counted when the limit was passed.
        invalid: u64,
        /// The items read by then (for a percentage limit: the whole input).
        total: u64,
        /// The limit.
        limit: crate::MaxSkipped,
        /// Whether each chunk was its own transaction (`max_concurrency`), so that chunks
        /// committed before stay.
        per_chunk: bool,
    },

    /// The data was written (or, in a dry run, validated) but the rejects file of the
    /// command-line tool could not be completed: some skipped items may be missing from it.
    ///
    /// ```
    /// let e = bulkinup::Error::RejectsIncomplete {
    ///     path: Some("rejects.ndjson".into()),
    ///     dry_run: true,
    ///     source: std::io::Error::other("disk full"),
    /// };
    /// assert_eq!(e.exit_code(), 5);
    /// assert!(!e.to_string().contains("were written"));
    /// ```
    #[error(
        "the rejects file{} is incomplete: {source}; {}",
        path.as_ref().map(|p| format!(" `{p}`")).unwrap_or_default(),
        if *dry_run {
            "the dry run wrote nothing to the database"
        } else {
            "the valid items were written and committed"
        }
    )]
    RejectsIncomplete {
        /// The rejects file, when known.
        path: Option<String>,
        /// Whether the call was a dry run (nothing was written to the database).
        dry_run: bool,
        /// Why writing it failed.
        #[source]
        source: std::io::Error,
    },

    /// A value could not be serialized (to JSON text, for the output).
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized, e.g. `the summary line`.
        what: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },

    /// Reading a file or stream failed.
    #[error("I/O error{}: {source}", path.as_ref().map(|p| format!(" on `{p}`")).unwrap_or_default())]
    Io {
        /// The path involved, when known.
        path: Option<String>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn schema_ctx(schema: &Option<String>, key: &Option<String>) -> String {
    match (schema, key) {
        (Some(s), Some(k)) => format!(" in schema `{s}` at `{k}`"),
        (Some(s), None) => format!(" in schema `{s}`"),
        (None, Some(k)) => format!(" at `{k}`"),
        (None, None) => String::new(),
    }
}

fn loc_ctx(location: &Option<String>) -> String {
    location
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default()
}

/// `invalid option `NAME`: ` for an option or flag; nothing for a positional argument
/// (`INPUT`, all capitals), whose message says what it is.
fn option_head(name: &str) -> String {
    match name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        true => String::new(),
        false => format!("invalid option `{name}`: "),
    }
}

/// ` (valid: a, b)`, once, and nothing when there is no choice to list.
fn valid_ctx(valid: &Option<String>) -> String {
    match valid.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => format!(" (valid: {v})"),
        _ => String::new(),
    }
}

fn tried(attempts: u32, restartable: bool) -> String {
    match (restartable, attempts) {
        (false, _) => {
            "not retried: the input cannot be read again (an iterator, a stream or standard input)"
                .into()
        }
        (true, 1) => "tried once".into(),
        (true, n) => format!("tried {n} times from the start"),
    }
}

fn input_ctx(file: &Option<String>, line: Option<u64>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!(" in `{f}` line {l}"),
        (Some(f), None) => format!(" in `{f}`"),
        (None, Some(l)) => format!(" at item {l}"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// The command-line exit status for this error (the README's "Exit status" section):
    /// `1` a failure while writing — database error (a deadlock, [`Error::Contention`],
    /// included), timeout, a generated key not returned, a
    /// chunk's task failing — (rolled back), or a database that cannot be reached (nothing
    /// written), `2` usage, option or schema error (nothing
    /// touched), `3` malformed input (rolled back), or a file or stream that cannot be read
    /// or written, or output that cannot be serialized, `4` more invalid items than
    /// `max_skipped` allows ([`Error::TooManyInvalid`], rolled back), `5` the data was
    /// written but the rejects file is incomplete ([`Error::RejectsIncomplete`]). A call with
    /// `max_concurrency` that committed part of its input ([`Error::PartlyCommitted`]) has
    /// the status of the error that ended it.
    ///
    /// ```
    /// let e = bulkinup::Error::option("chunk_size", "must be at least 1", None);
    /// assert_eq!(e.exit_code(), 2);
    /// let e = bulkinup::Error::GeneratedKeyMissing { table: "posts".into() };
    /// assert_eq!(e.exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Database { .. }
            | Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::Contention { .. }
            | Error::GeneratedKeyMissing { .. }
            | Error::Task { .. } => 1,
            Error::Schema { .. } | Error::InvalidOption { .. } => 2,
            Error::Input { .. } | Error::Io { .. } | Error::Serialize { .. } => 3,
            Error::TooManyInvalid { .. } => 4,
            Error::RejectsIncomplete { .. } => 5,
            Error::PartlyCommitted { source, .. } => source.exit_code(),
        }
    }

    /// Builds an [`Error::InvalidOption`]. Its message lists the valid choices once, and
    /// none when the list is empty; a positional argument (`INPUT`) is not called an option.
    ///
    /// ```
    /// use bulkinup::Error;
    /// let e = Error::option("--root", "unknown schema `Autor`", Some("Author, Post"));
    /// assert_eq!(e.to_string(), "invalid option `--root`: unknown schema `Autor` (valid: Author, Post)");
    /// let e = Error::option("tables", "the database has no table `x`", Some(""));
    /// assert_eq!(e.to_string(), "invalid option `tables`: the database has no table `x`");
    /// let e = Error::option("INPUT", "input file `a.ndjson` does not exist", None);
    /// assert_eq!(e.to_string(), "input file `a.ndjson` does not exist");
    /// ```
    pub fn option(
        name: impl Into<String>,
        message: impl Into<String>,
        valid: Option<&str>,
    ) -> Self {
        Error::InvalidOption {
            name: name.into(),
            message: message.into(),
            valid: valid.map(str::to_string),
        }
    }

    /// Builds an [`Error::Schema`] for a schema and key, without a file location.
    pub fn schema(schema: Option<&str>, key: Option<&str>, message: impl Into<String>) -> Self {
        Error::Schema {
            schema: schema.map(str::to_string),
            key: key.map(str::to_string),
            location: None,
            message: message.into(),
        }
    }

    /// A value the driver could not encode for `table`, as a database error naming it.
    pub(crate) fn encode(table: &str, e: sqlx::error::BoxDynError) -> Self {
        Error::database(Some(table), sqlx::Error::Encode(e))
    }

    /// Wraps a driver error, attaching the table being written (if any; else, on
    /// PostgreSQL, the table the server's error names, e.g. for a deferred foreign key
    /// checked at the commit).
    pub fn database(table: Option<&str>, source: sqlx::Error) -> Self {
        let (kind, code, constraint, message) = match &source {
            sqlx::Error::Database(db) => (
                db.kind().into(),
                db.code().map(|c| c.into_owned()),
                db.constraint().map(str::to_string),
                db.message().to_string(),
            ),
            other => (DbErrorKind::Other, None, None, other.to_string()),
        };
        let pg = match &source {
            sqlx::Error::Database(db) => db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>(),
            _ => None,
        };
        Error::Database {
            table: table
                .or_else(|| pg.and_then(|e| e.table()))
                .map(str::to_string),
            kind,
            code,
            constraint,
            message,
            detail: pg.and_then(|e| e.detail()).map(str::to_string),
            hint: pg.and_then(|e| e.hint()).map(str::to_string),
            item: None,
            source: Box::new(source),
        }
    }

    /// This error naming the input item whose rows the database refused (a database error;
    /// any other error is returned as it is).
    pub fn with_item(mut self, refused: ItemRef) -> Self {
        if let Error::Database { item, .. } = &mut self {
            *item = Some(Box::new(refused));
        }
        self
    }

    /// The input item a database error names ([`Error::with_item`]), if any.
    pub fn item(&self) -> Option<&ItemRef> {
        match self {
            Error::Database { item, .. } => item.as_deref(),
            Error::Contention { source, .. } | Error::PartlyCommitted { source, .. } => {
                source.item()
            }
            _ => None,
        }
    }

    /// The table a database error, timeout or missing generated key happened in, if known.
    pub fn table(&self) -> Option<&str> {
        match self {
            Error::Database { table, .. } | Error::Timeout { table, .. } => table.as_deref(),
            Error::GeneratedKeyMissing { table } => Some(table),
            Error::Contention { source, .. } | Error::PartlyCommitted { source, .. } => {
                source.table()
            }
            _ => None,
        }
    }

    /// The kind of a database error (also the one behind an [`Error::Contention`] or an
    /// [`Error::PartlyCommitted`]), if this is one.
    pub fn db_kind(&self) -> Option<DbErrorKind> {
        match self {
            Error::Database { kind, .. } => Some(*kind),
            Error::Contention { source, .. } | Error::PartlyCommitted { source, .. } => {
                source.db_kind()
            }
            _ => None,
        }
    }

    /// The input ranges committed before a call with `max_concurrency` failed
    /// ([`Error::PartlyCommitted`]); `None` for any other error.
    pub fn committed(&self) -> Option<&[InputRange]> {
        match self {
            Error::PartlyCommitted { committed, .. } => Some(committed),
            _ => None,
        }
    }
}

/// Formats a list of names as `a, b, c` for error messages.
pub(crate) struct Choices<'a, I>(pub &'a I);

impl<I> fmt::Display for Choices<'_, I>
where
    for<'x> &'x I: IntoIterator,
    for<'x> <&'x I as IntoIterator>::Item: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
