//! Stage one of the command line: clap parses the arguments into plain strings and flags.
//!
//! Nothing here checks a value beyond its shape on the command line: every option value is
//! kept as the string the user typed, and [`crate::settings`] validates them all (naming the
//! flag and the valid choices) before anything connects to a database. Each flag's help is
//! its doc comment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The database used when neither `--database-url` nor `DATABASE_URL` is given: an SQLite
/// file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://bulkinup.db";

/// Write nested JSON records into relational tables in bulk (SQLite, PostgreSQL,
/// MySQL/MariaDB).
///
/// Exit status: 0 done (also when items were skipped as invalid); 1 database error, everything
/// rolled back; 2 usage, option or schema error, nothing touched; 3 malformed input, everything
/// rolled back; 4 too many invalid items (--max-skipped), everything rolled back; 5 written,
/// but the rejects file is incomplete; 130 interrupted (Ctrl-C), rolled back. (With
/// --max-concurrency, only the chunks not yet committed are rolled back: the failure says
/// which input lines committed.)
#[derive(Debug, Parser)]
#[command(name = "bulkinup", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Parses the command line. Help and version go to standard output (exit 0); a usage error
/// is printed in the style of every other error (`bulkinup: error: …`,
/// [`output::eprint_error`](crate::output::eprint_error)) and exits with clap's status, 2.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            let text = e.render().to_string();
            let message = text.strip_prefix("error: ").unwrap_or(&text);
            crate::output::eprint_error(message.trim_end());
            std::process::exit(e.exit_code())
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upsert the input items and their associations: existing rows are updated on conflict.
    Upsert(WriteArgs),
    /// Insert the input items and their associations: a row that already exists is an error
    /// and rolls back the whole call.
    Insert(WriteArgs),
    /// Create the example blog tables if missing, load the bundled nested example (an upsert,
    /// so it can be run again), and print the summary and the rows of every table.
    Demo(DemoArgs),
    /// Schema files and the live database: `schema infer` writes one from the catalog,
    /// `schema check` reports where one and the database disagree, `schema ddl` creates the
    /// tables one writes.
    Schema(SchemaArgs),
}

/// Arguments of `bulkinup schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SchemaCommand,
}

/// `bulkinup schema infer|check|ddl`.
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print a schema file inferred from the database catalog: tables → schemas with typed
    /// fields and primary keys, foreign keys → has_many/belongs_to, two-key join tables →
    /// many_to_many, a changeset per schema. With --from-data, inferred from the items of
    /// NDJSON or JSON-array files instead: scalars → typed fields, nested objects → embedded
    /// schemas, arrays of objects → has_many children, code-keyed objects → maps.
    Infer(InferArgs),
    /// Report every mismatch between a schema file and the database (missing table or column,
    /// type mismatch, join table without the unique index an upsert needs). Exits 2 when
    /// there is any, 0 when there is none.
    Check(CheckArgs),
    /// Print the CREATE TABLE IF NOT EXISTS statements (one per paragraph, each ending `;`)
    /// of the tables a schema file writes, for the database of --database-url, in dependency
    /// order: columns typed as the writer binds them, primary keys, NOT NULL for required
    /// fields, foreign keys of the associations, join tables, a unique key per
    /// conflict_target. Without --apply nothing is connected to (the URL only chooses the
    /// SQL dialect).
    Ddl(DdlArgs),
}

/// Arguments of `bulkinup schema ddl`.
#[derive(Debug, Args)]
pub struct DdlArgs {
    /// The TOML schema file whose tables to create (its `[options]` and `[options.upsert]`
    /// give the conflict targets, the prefix and the time limits).
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,
    /// Connect and run the statements in one transaction, then print them, and on standard
    /// error the tables created. PostgreSQL and SQLite: all or nothing. MySQL/MariaDB commit each statement on its own: a failure
    /// leaves the tables before it (IF NOT EXISTS makes a second run safe). Tables that
    /// exist are left as they are.
    #[arg(long)]
    pub apply: bool,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// The time limits of --apply.
    #[command(flatten)]
    pub limits: TimeLimitArgs,
}

/// Arguments of `bulkinup schema infer`.
#[derive(Debug, Args)]
pub struct InferArgs {
    /// The database to infer from: `sqlite://PATH`, `postgres://…` or `mysql://…` (also
    /// MariaDB), as for `upsert`. Default: `DATABASE_URL`, else `sqlite://bulkinup.db`. Not
    /// with --from-data (which ignores `DATABASE_URL`).
    #[arg(long, value_name = "URL", conflicts_with = "from_data")]
    pub database_url: Option<String>,
    /// Only these tables (comma-separated or repeated).
    #[arg(long, value_name = "TABLES", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Read the tables of this PostgreSQL schema, MySQL/MariaDB database or attached SQLite
    /// database instead of the current one (it must exist); every schema printed gets
    /// `prefix = "NAME"`.
    #[arg(long, value_name = "NAME")]
    pub prefix: Option<String>,
    /// Infer the schemas from the items of these NDJSON or JSON-array files (`-`: standard
    /// input), read as `upsert` reads them, rather than from a database.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        conflicts_with_all = ["tables", "prefix", "timeout", "statement_timeout", "connect_timeout"],
        help_heading = "From data"
    )]
    pub from_data: Vec<PathBuf>,
    /// The root schema's name [default: the CamelCase singular of the first file's stem,
    /// `countries.ndjson` → `Country`; `Item` for standard input].
    #[arg(
        long,
        value_name = "NAME",
        requires = "from_data",
        help_heading = "From data"
    )]
    pub root: Option<String>,
    /// Read only the first N items (≥ 1) [default: all].
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        requires = "from_data",
        help_heading = "From data"
    )]
    pub sample: Option<String>,
    /// Nested objects become flattened columns (`name_common` read from `name.common`)
    /// rather than embedded schemas.
    #[arg(long, requires = "from_data", help_heading = "From data")]
    pub flatten: bool,
    /// Code-keyed objects become keyed children (`has_many` with `keyed_by = "key"`) rather
    /// than `map` fields.
    #[arg(long, requires = "from_data", help_heading = "From data")]
    pub keyed: bool,
    /// The time limits (not with --from-data, which reads no database).
    #[command(flatten)]
    pub limits: TimeLimitArgs,
}

impl InferArgs {
    /// The database URL: `--database-url`, else `DATABASE_URL`, else
    /// [`DEFAULT_DATABASE_URL`]. (The environment variable is not a clap `env` here, for
    /// clap would count it as given and refuse it beside --from-data.)
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string())
    }
}

/// Arguments of `bulkinup schema check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The TOML schema file to check (its `[options]` and `[options.upsert]` give the prefix
    /// and the time limits, which the flags override).
    #[arg(long, value_name = "FILE")]
    pub schema: String,
    /// Check every schema without its own `prefix` against the tables of this PostgreSQL
    /// schema, MySQL/MariaDB database or attached SQLite database (it must exist), as
    /// `upsert --prefix NAME` would write them [default: the schema file's `prefix` option,
    /// else the connection's own schema or database].
    #[arg(long, value_name = "NAME")]
    pub prefix: Option<String>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// The time limits.
    #[command(flatten)]
    pub limits: TimeLimitArgs,
}

/// The database to use.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The database: `sqlite://PATH` (created if missing; a relative PATH is relative to the
    /// working directory), `postgres://…` or `mysql://…` (also MariaDB). TLS through the URL's
    /// own parameters: `?sslmode=verify-full&sslrootcert=CA.pem` (PostgreSQL),
    /// `?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA.pem` (MySQL); without them, TLS where the server
    /// offers it, unverified.
    #[arg(
        long,
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
}

/// The time limits of a command that connects to a database: `upsert`, `insert`, `schema
/// infer`, `schema check`, `schema ddl`, `demo`. Each flag overrides the schema file's option
/// of the same name (where the command reads one).
#[derive(Debug, Args)]
#[command(next_help_heading = "Time limits")]
pub struct TimeLimitArgs {
    /// Time limit in seconds for the whole call, and for each statement; `infinity` for
    /// none. For upsert/insert, the transaction (per chunk with --max-concurrency), reading
    /// the input included; for schema infer/check, all their catalog queries together; for
    /// schema ddl --apply, its transaction; for demo, each of its steps (the DDL script, each
    /// upsert, each listing query). Default: none (`infinity`), each statement still
    /// bounded by --statement-timeout; a schema file's `[options] timeout` applies when this
    /// flag is not given. (The library's default is 15 s.)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub timeout: Option<String>,

    /// Time limit in seconds for each statement (BEGIN, each write, the commit, the prefix
    /// checks; each catalog query of schema infer/check; the demo's DDL script and each of its
    /// listing queries), enforced by the client even when
    /// the server or the network stops answering: a statement still waiting when it (or
    /// --timeout) runs out is abandoned, its connection closed, and the run exits 1 (an
    /// upsert or insert with nothing committed). `infinity`: only --timeout bounds
    /// statements [default: 60].
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub statement_timeout: Option<String>,

    /// Time limit in seconds for connecting to the database: a refused connection fails at
    /// once with the reason, a server that does not answer within it fails the run (exit
    /// status 1, nothing written). Always finite (no `infinity`) [default: 10].
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub connect_timeout: Option<String>,
}

/// Arguments of `bulkinup demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// The time limits of each step: the DDL script, each upsert, each listing query.
    #[command(flatten)]
    pub limits: TimeLimitArgs,
}

/// Arguments of `bulkinup upsert` and `bulkinup insert`. Options given here override the
/// schema file's `[options.upsert]`/`[options.insert]`, which override its `[options]`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// The TOML schema file (schemas, changesets and optional default `[options]`).
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,

    /// The schema of the top-level input items (e.g. `Author`).
    #[arg(long, value_name = "SCHEMA")]
    pub root: String,

    /// The database.
    #[command(flatten)]
    pub db: DbArgs,

    /// The changeset used for the root schema's items [default: changeset].
    #[arg(long, value_name = "NAME", help_heading = "Write options")]
    pub changeset: Option<String>,

    /// Items per chunk, and the most rows one statement writes into one table (≥ 1)
    /// [default: 1000].
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Write options"
    )]
    pub chunk_size: Option<String>,

    /// Write up to N chunks at once, each in its own transaction on its own connection;
    /// committed chunks stay committed if a later one fails (≥ 1). A failure, or Ctrl-C, then
    /// says which input lines (JSON-array elements) committed: in words on standard error
    /// (committed: lines 1-1000 of `feed.ndjson`; the rest was rolled back or not read),
    /// and as one JSON line on standard output, `{"error": "…", "committed": [[1, 1000]]}`
    /// (with several inputs, `[{"file": "a.ndjson", "lines": [[1, 1000]]}, …]`). Write the
    /// rest to resume.
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Write options"
    )]
    pub max_concurrency: Option<String>,

    /// Time limits.
    #[command(flatten)]
    pub limits: TimeLimitArgs,

    /// A value shared by every row of a schema or join table, injected before validation and
    /// replacing any per-row value. JSON value, or `now()` for the call's start time.
    /// Repeatable.
    #[arg(
        long = "placeholder",
        value_name = "KEY.FIELD=JSON",
        help_heading = "Write options"
    )]
    pub placeholders: Vec<String>,

    /// A fallback value for a field whose validation fails, so the item is written instead of
    /// skipped (JSON value). Repeatable.
    #[arg(
        long = "recover",
        value_name = "SCHEMA.FIELD=JSON",
        help_heading = "Write options"
    )]
    pub recover: Vec<String>,

    /// Upsert only: fields kept on conflict, in addition to the primary key.
    #[arg(long, value_name = "F1,F2", help_heading = "Write options")]
    pub replace_all_except: Option<String>,

    /// What the rows of a schema or join table do on a conflict. ACTION: nothing,
    /// replace_all, replace:F1,F2, replace_all_except:F1,F2 or raise. Repeatable.
    #[arg(
        long = "on-conflict",
        value_name = "KEY=ACTION",
        help_heading = "Write options"
    )]
    pub on_conflict: Vec<String>,

    /// The unique columns a schema's or join table's rows conflict on. Repeatable.
    #[arg(
        long = "conflict-target",
        value_name = "KEY=C1,C2",
        help_heading = "Write options"
    )]
    pub conflict_target: Vec<String>,

    /// Give a has_many/has_one child whose foreign key is absent its parent's key before
    /// validation (a given foreign key is kept).
    #[arg(long, help_heading = "Write options")]
    pub infer_foreign_keys: bool,

    /// Write nested belongs_to data first (with the verb) and take the owner's foreign key
    /// from it.
    #[arg(long, help_heading = "Write options")]
    pub write_belongs_to: bool,

    /// Write the tables of every schema without its own `prefix` into this PostgreSQL schema,
    /// MySQL/MariaDB database or attached SQLite database (it must exist).
    #[arg(long, value_name = "NAME", help_heading = "Write options")]
    pub prefix: Option<String>,

    /// MySQL/MariaDB only: a conflicting row updates whichever existing row any unique key
    /// matches (ON DUPLICATE KEY UPDATE as it is). Without it, a row that collides with a
    /// different row through a unique key other than its conflict target is a unique
    /// violation (exit status 1, rolled back), as on PostgreSQL and SQLite. Risks
    /// overwriting rows the input never named.
    #[arg(long, help_heading = "Write options")]
    pub any_unique_key: bool,

    /// Fail the call when more than N items are invalid (skipped), or more than N% of the
    /// items read: exit status 4, "too many invalid items", everything rolled back (with
    /// --max-concurrency, chunks already committed stay). N is checked as soon as it is
    /// passed; N% at the end of the input, before the commit. Default: no limit.
    #[arg(long, value_name = "N|N%", help_heading = "Write options")]
    pub max_skipped: Option<String>,

    /// What to do when the database refuses a row (a foreign-key, unique, NOT NULL or CHECK
    /// violation, a value too long or not accepted): `rollback` (the default) fails the call
    /// naming the input item (file:line, primary key) and the database's message and detail,
    /// everything rolled back; `reject` sets the refused items aside (into --rejects, with
    /// "stage": "database"), counts them as `rejected`, and commits the rest. Either way the
    /// failing chunk's items are written again in halves, in savepoints, to find the item.
    /// Errors not about a row (connection lost, timeout, permission) always roll back.
    /// Rejected items count toward --max-skipped.
    #[arg(long, value_name = "rollback|reject", help_heading = "Write options")]
    pub on_error: Option<String>,

    /// Write only part K of N of the input (K counts from 0): N processes given the same
    /// input and --shard 0/N, 1/N, …, (N-1)/N write every item exactly once between them,
    /// without talking to each other (the tasks of a job array, say). An item falls to a part
    /// by the hash of its root primary key (every occurrence of a key to the same part), or
    /// by its position in the input when it has none. The summary counts the other parts'
    /// items as `other_shards`.
    #[arg(long, value_name = "K/N", help_heading = "Write options")]
    pub shard: Option<String>,

    /// Write every skipped (invalid) item to FILE as NDJSON: file, line (or index), item and
    /// the nested error tree. FILE is replaced when the call ends, if it read its input (also
    /// when it then failed); it may not be an input, the schema file, or standard input or
    /// output.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub rejects: Option<PathBuf>,

    /// Validate and count what would be written, write nothing (the database is not
    /// contacted). The summary gets `"dry_run": true`.
    #[arg(long, help_heading = "Output")]
    pub dry_run: bool,

    /// Print nothing on standard error but errors: no skipped-items summary, no progress
    /// line (the bar of the bytes read, or a spinner for standard input).
    #[arg(short, long, conflicts_with = "verbose", help_heading = "Output")]
    pub quiet: bool,

    /// Print each skipped item's origin and error tree on standard error.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// The longest input item: an NDJSON line or JSON-array element longer than this is
    /// malformed input (exit status 3, naming the file and line), found without reading more
    /// than about this much of it. Bytes, or with a unit: KB, MB, GB (powers of 1000), KiB,
    /// MiB, GiB (powers of 1024), e.g. 64MiB [default: 256MiB].
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Input"
    )]
    pub max_item_bytes: Option<String>,

    /// Input files: NDJSON (one JSON object per line) or a JSON array (first non-blank
    /// character `[`). None or `-` reads standard input. Several files are one call, read in
    /// order.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}
