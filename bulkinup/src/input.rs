//! The input reader: NDJSON or a JSON array, from files or standard input, read as a stream
//! of [`Item`]s for [`write_stream`](crate::write_stream) (the command-line tool reads its
//! inputs with it).
//!
//! The format is chosen per input by its first non-blank character: `[` is a JSON array,
//! anything else is NDJSON (one JSON value per line, blank lines skipped). Neither is ever
//! read whole: NDJSON goes line by line, and a JSON array element by element (a small scanner
//! finds where each element ends — outside strings, at bracket depth 0 — and hands its bytes to
//! serde_json). The readers run on their own thread and send items through a bounded
//! channel, so memory stays bounded by the chunk being written plus [`READ_AHEAD`] items,
//! whatever the input's size.
//!
//! Each item carries its [`Origin`]: the file (`-` for standard input) and the 1-based line
//! (NDJSON) or element (JSON array). Malformed input ends the stream with an
//! [`Error::Input`] naming the file, the line and serde_json's message, which rolls back the
//! call. Numbers are kept as written (serde_json's `arbitrary_precision`), so a valid number
//! out of a 64-bit float's range (`1e400`) is well-formed input: its field's cast decides
//! (`is invalid` for `integer`, `float`, `decimal`; kept exactly in a `map`).
//!
//! Every item is bounded: an NDJSON line (its bytes before the `\n`) or a JSON-array element
//! (its bytes from its first non-blank one up to the `,` or `]` that ends it) longer than
//! `max_item_bytes` (the option of that name, default
//! [`DEFAULT_MAX_ITEM_BYTES`](crate::options::DEFAULT_MAX_ITEM_BYTES)) is malformed input.
//! Input is read in pieces of at most the read buffer, and an item's bytes are never kept
//! beyond the limit: a line that never ends fails as soon as it passes the limit, with no
//! more than about the limit buffered.
//!
//! How far the reader has got is counted in a [`Progress`] ([`stream_with_progress`]): the
//! bytes consumed so far across the inputs, and their total size when every input is a
//! regular file.
//!
//! ```
//! use bulkinup::input::{self, Source};
//! use bulkinup::{Db, Options, Registry};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let feed = dir.path().join("tags.ndjson");
//! std::fs::write(&feed, "{\"id\": 1, \"name\": \"rust\"}\n{\"id\": 2, \"name\": \"sql\"}\n").unwrap();
//!
//! let registry = Registry::from_toml_str(
//!     "[schemas.Tag]\nsource = \"tags\"\nfields = { id = \"integer\", name = \"string\" }",
//!     "inline",
//! )?
//! .registry;
//! let db = Db::connect("sqlite::memory:").await?;
//! db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)").await?;
//!
//! // NDJSON or a JSON array, files or `-` (standard input), read on a thread as a stream.
//! let sources = Source::from_args(&[feed])?;
//! let items = input::stream(sources, bulkinup::options::DEFAULT_MAX_ITEM_BYTES)?;
//! let summary = bulkinup::upsert_stream(&db, &registry, "Tag", items, &Options::default()).await?;
//! assert_eq!(summary.rows["tags"], 2);
//! # Ok::<(), bulkinup::Error>(())
//! # }).unwrap();
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::item::{Item, Origin};
use futures::Stream;
use serde_json::Value as J;

/// How many items the reader thread may read ahead of the call.
pub const READ_AHEAD: usize = 1024;

/// The read buffer of an input file.
const BUFFER: usize = 256 * 1024;

/// Up to this size an item's buffer grows as a `Vec` does; past it, it is sized for the
/// whole limit at once ([`make_room`]).
const SMALL_ITEM: usize = 64 * 1024;

/// Makes room in `buf` for `extra` more bytes of an item of at most `max` bytes. Past
/// [`SMALL_ITEM`], the buffer is allocated for the whole limit at once (the system backs its
/// pages only as they are written), so growing never holds two copies of a long item: memory
/// stays about the bytes buffered, never about twice the limit. Where that allocation is
/// refused (a limit near the memory's size) the buffer grows as usual.
fn make_room(buf: &mut Vec<u8>, extra: usize, max: usize) {
    let needed = buf.len().saturating_add(extra);
    if needed > buf.capacity() && needed > SMALL_ITEM {
        let whole = max.saturating_add(1).saturating_sub(buf.len());
        let _ = buf.try_reserve_exact(whole.max(extra));
    }
}

/// One input: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`, or no INPUT at all).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// The inputs of the command line: none or `-` is standard input. Each file is checked to
    /// be readable, so that a wrong path is a usage error (exit status 2) reported before the
    /// database is contacted.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `INPUT` and the file.
    pub fn from_args(inputs: &[PathBuf]) -> Result<Vec<Source>> {
        if inputs.is_empty() {
            return Ok(vec![Source::Stdin]);
        }
        inputs
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    return Ok(Source::Stdin);
                }
                let unreadable = |why: String| {
                    Error::option(
                        "INPUT",
                        format!("cannot read the input file `{}`: {why}", p.display()),
                        None,
                    )
                };
                if p.is_dir() {
                    return Err(unreadable("it is a directory".into()));
                }
                File::open(p).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::option(
                        "INPUT",
                        format!("input file `{}` does not exist", p.display()),
                        None,
                    ),
                    _ => unreadable(e.to_string()),
                })?;
                Ok(Source::File(p.clone()))
            })
            .collect()
    }

    /// Whether this input can be read again from its start, for a call that is retried
    /// ([`write_restartable`](crate::write_restartable)): a regular file can; standard
    /// input, a named pipe or a device cannot.
    pub fn rereadable(&self) -> bool {
        match self {
            Source::Stdin => false,
            Source::File(p) => std::fs::metadata(p).is_ok_and(|m| m.is_file()),
        }
    }

    /// The size in bytes of a regular file; `None` for standard input, a named pipe or a
    /// device (their size is not known before they end).
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::Stdin => None,
            Source::File(p) => std::fs::metadata(p)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len()),
        }
    }

    /// The name items from this input carry in their origin: the path, or `-`.
    pub fn name(&self) -> Arc<str> {
        match self {
            Source::Stdin => Arc::from("-"),
            Source::File(p) => Arc::from(p.display().to_string()),
        }
    }
}

/// How far a [`stream`] has read its inputs: the bytes consumed so far (counted as the
/// reader takes them from its buffer, across all the inputs, a byte-order mark and blank
/// lines included), and the inputs' total size when every one is a regular file. A cheap
/// handle (clones share the count), updated by the reader thread as it goes; the reader runs
/// at most [`READ_AHEAD`] items ahead of the call. Once an input has been read to its end
/// without error, its whole size is counted.
///
/// ```
/// use bulkinup::input::{Source, stream_with_progress};
/// use futures::StreamExt;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("in.ndjson");
/// std::fs::write(&path, "{\"id\": 1}\n{\"id\": 2}\n")?;
/// let (items, progress) = stream_with_progress(vec![Source::File(path)], 1024)?;
/// assert_eq!(progress.total_bytes(), Some(20));
/// let items: Vec<_> = futures::executor::block_on(items.collect());
/// assert_eq!(items.len(), 2);
/// assert_eq!(progress.bytes_read(), 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Progress {
    read: Arc<AtomicU64>,
    total: Option<u64>,
}

impl Progress {
    /// A count at zero, of inputs whose total is `total` bytes (`None`: not known).
    pub fn new(total: Option<u64>) -> Progress {
        Progress {
            read: Arc::default(),
            total,
        }
    }

    /// The bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The inputs' total size in bytes, measured when the stream started: `None` unless every
    /// input is a regular file ([`Source::size`]).
    pub fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    fn add(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A reader that counts the bytes consumed from it into a [`Progress`].
struct Counted<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
        self.progress.add(amt);
    }
}

/// Reads `sources` in order on a reader thread and returns their items as one stream. The
/// stream ends after the first error (which it yields). An item longer than
/// `max_item_bytes` is malformed input (see the module docs).
///
/// # Errors
/// [`Error::Io`] when the reader thread cannot be started.
pub fn stream(
    sources: Vec<Source>,
    max_item_bytes: usize,
) -> Result<impl Stream<Item = Result<Item>> + Send + 'static> {
    stream_with_progress(sources, max_item_bytes).map(|(items, _)| items)
}

/// As [`stream`], with the [`Progress`] of the reading: the bytes consumed so far, and the
/// total size when every input is a regular file.
///
/// # Errors
/// [`Error::Io`] when the reader thread cannot be started.
pub fn stream_with_progress(
    sources: Vec<Source>,
    max_item_bytes: usize,
) -> Result<(impl Stream<Item = Result<Item>> + Send + 'static, Progress)> {
    let total = sources.iter().map(Source::size).sum::<Option<u64>>();
    let progress = Progress::new(total);
    let counter = progress.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Item>>(READ_AHEAD);
    std::thread::Builder::new()
        .name("bulkinup-input".into())
        .spawn(move || {
            let mut sink = |item: Result<Item>| tx.blocking_send(item).is_ok();
            read_all(&sources, max_item_bytes, &counter, &mut sink);
        })
        .map_err(|source| Error::Io { path: None, source })?;
    let items = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((items, progress))
}

/// Receives each item (or the one error that ends the input); returns `false` to stop.
pub type Sink<'a> = dyn FnMut(Result<Item>) -> bool + 'a;

/// Reads `sources` in order on the calling thread into `sink`, item by item, until the
/// first error (which it sends) or until `sink` returns `false`; an item longer than
/// `max_item_bytes` is malformed input (see the module docs). Nothing is kept but the item
/// being read, so memory stays bounded whatever the inputs' size.
///
/// ```
/// use bulkinup::input::{Source, read_each};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("in.ndjson");
/// std::fs::write(&path, "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n")?;
/// let mut ids = Vec::new();
/// read_each(&[Source::File(path)], 1024, &mut |item| {
///     ids.push(item.map(|i| i.attrs["id"].clone()));
///     ids.len() < 2 // stop after two
/// });
/// assert_eq!(ids.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_each(sources: &[Source], max_item_bytes: usize, sink: &mut Sink<'_>) {
    read_all(sources, max_item_bytes, &Progress::default(), sink);
}

/// Reads every source in order into `sink`, counting the bytes consumed into `progress`,
/// stopping at the first error.
fn read_all(sources: &[Source], max_item_bytes: usize, progress: &Progress, sink: &mut Sink<'_>) {
    for source in sources {
        let name = source.name();
        let going_on = match source {
            Source::Stdin => read_source(
                Counted {
                    inner: std::io::stdin().lock(),
                    progress: progress.clone(),
                },
                &name,
                max_item_bytes,
                sink,
            ),
            Source::File(path) => match open(path) {
                Ok(reader) => {
                    let reader = Counted {
                        inner: reader,
                        progress: progress.clone(),
                    };
                    read_source(reader, &name, max_item_bytes, sink)
                }
                Err(e) => {
                    sink(Err(e));
                    false
                }
            },
        };
        if !going_on {
            return;
        }
    }
}

fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path)
        .map(|f| BufReader::with_capacity(BUFFER, f))
        .map_err(|source| Error::Io {
            path: Some(path.display().to_string()),
            source,
        })
}

fn io_error(file: &str, source: std::io::Error) -> Error {
    Error::Io {
        path: Some(file.to_string()),
        source,
    }
}

fn input_error(file: &str, line: u64, message: String) -> Error {
    Error::Input {
        file: Some(file.to_string()),
        line: Some(line),
        message,
    }
}

/// serde_json's message without its ` at line L column C` suffix, and the column.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", e.column()),
        None => text,
    }
}

/// The error of an item longer than `max` bytes: `what` names it (`line`, `array element 3`).
fn too_long(file: &str, line: u64, what: &str, max: usize) -> Error {
    let message = format!(
        "{what} is longer than {max} bytes, the item limit (`--max-item-bytes`, option `max_item_bytes`)"
    );
    input_error(file, line, message)
}

/// Reads one input (NDJSON or a JSON array, by its first non-blank character) into `sink`;
/// an item longer than `max_item_bytes` is malformed input (see the module docs).
/// Returns `false` when reading should stop (an error was sent, or the sink is closed).
///
/// ```
/// use std::sync::Arc;
/// use bulkinup::input::read_source;
/// let file: Arc<str> = Arc::from("in.ndjson");
/// let mut items = Vec::new();
/// let mut errors = Vec::new();
/// read_source(&b"{\"id\": 1}\n{\"id\": 22222}\n"[..], &file, 12, &mut |r| {
///     match r {
///         Ok(item) => items.push(item.attrs),
///         Err(e) => errors.push(e.to_string()),
///     }
///     true
/// });
/// assert_eq!(items, [serde_json::json!({"id": 1})]);
/// assert!(errors[0].starts_with("malformed input in `in.ndjson` line 2: line is longer than 12 bytes"));
/// ```
pub fn read_source<R: BufRead>(
    mut reader: R,
    file: &Arc<str>,
    max_item_bytes: usize,
    sink: &mut Sink<'_>,
) -> bool {
    // Skip a byte-order mark, then blank space (counting lines), and look at the first
    // non-blank byte without consuming it.
    let mut lines_before = 0u64;
    let mut at_start = true;
    let first = loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) => return emit_error(sink, io_error(file, e)),
        };
        if buf.is_empty() {
            return true; // empty input: no items
        }
        if at_start && buf.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
            at_start = false;
            continue;
        }
        at_start = false;
        let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        lines_before += buf[..blank].iter().filter(|&&b| b == b'\n').count() as u64;
        let first = buf.get(blank).copied();
        reader.consume(blank);
        if let Some(b) = first {
            break b;
        }
    };
    if first == b'[' {
        read_array(reader, file, lines_before + 1, max_item_bytes, sink)
    } else {
        read_ndjson(reader, file, lines_before, max_item_bytes, sink)
    }
}

/// What [`read_line`] read.
enum Line {
    /// A line (with its `\n`, unless it was the last one) is in the buffer.
    Read,
    /// The end of the input: nothing more.
    End,
    /// The line is longer than the limit: its first bytes are in the buffer, the rest unread.
    TooLong,
}

/// Reads one line into `buf` (empty), as `read_until(b'\n')` does, but piece by piece from
/// the reader's buffer, stopping as soon as the line (without its `\n`) passes `max` bytes:
/// `buf` never holds more than `max` + 1 bytes.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    loop {
        let piece = match reader.fill_buf() {
            Ok(piece) => piece,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if piece.is_empty() {
            return Ok(if buf.is_empty() {
                Line::End
            } else {
                Line::Read
            });
        }
        let (content, taken) = match memchr::memchr(b'\n', piece) {
            Some(i) => (i, i + 1),
            None => (piece.len(), piece.len()),
        };
        if buf.len() + content > max {
            return Ok(Line::TooLong);
        }
        make_room(buf, taken, max);
        buf.extend_from_slice(&piece[..taken]);
        reader.consume(taken);
        if taken > content {
            return Ok(Line::Read);
        }
    }
}

/// NDJSON: one JSON value per line; blank lines are skipped. `line` is the number of lines
/// already consumed.
fn read_ndjson<R: BufRead>(
    mut reader: R,
    file: &Arc<str>,
    mut line: u64,
    max: usize,
    sink: &mut Sink<'_>,
) -> bool {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = read_line(&mut reader, &mut buf, max);
        line += 1;
        match read {
            Ok(Line::Read) => {}
            Ok(Line::End) => return true,
            Ok(Line::TooLong) => return emit_error(sink, too_long(file, line, "line", max)),
            Err(e) => return emit_error(sink, io_error(file, e)),
        }
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let item = match parse(text) {
            Ok(attrs) => Ok(Item {
                attrs,
                origin: Some(Origin {
                    file: Arc::clone(file),
                    line: Some(line),
                    index: None,
                }),
            }),
            Err(e) => Err(input_error(file, line, json_message(&e))),
        };
        let failed = item.is_err();
        if !sink(item) || failed {
            return false;
        }
    }
}

/// Where the array scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// After `[` or `,`: blank space, then an element (or `]` right after `[`).
    BeforeElement,
    /// Inside an element.
    InElement,
    /// After the closing `]`: only blank space may follow.
    AfterArray,
}

/// A JSON array, element by element. The reader is at the `[`, on line `line`. An element
/// longer than `max` bytes ends the input with an error as soon as it passes the limit.
fn read_array<R: BufRead>(
    mut reader: R,
    file: &Arc<str>,
    mut line: u64,
    max: usize,
    sink: &mut Sink<'_>,
) -> bool {
    reader.consume(1); // the `[`
    let mut at = At::BeforeElement;
    let mut elem: Vec<u8> = Vec::new();
    let mut elem_line = line;
    let mut index = 0u64;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut after_comma = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) => return emit_error(sink, io_error(file, e)),
        };
        if buf.is_empty() {
            break;
        }
        let len = buf.len();
        for &b in buf {
            if b == b'\n' {
                line += 1;
            }
            if at == At::AfterArray {
                if !b.is_ascii_whitespace() {
                    let message = format!(
                        "unexpected `{}` after the end of the JSON array",
                        char::from(b).escape_default()
                    );
                    return emit_error(sink, input_error(file, line, message));
                }
                continue;
            }
            let joins = if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                true
            } else {
                match b {
                    b',' | b']' if depth == 0 => {
                        if at == At::InElement {
                            index += 1;
                            if !emit_element(sink, file, &mut elem, index, elem_line) {
                                return false;
                            }
                        } else if b == b',' || after_comma {
                            let message = format!(
                                "array element {}: expected a value before `{}`",
                                index + 1,
                                char::from(b)
                            );
                            return emit_error(sink, input_error(file, line, message));
                        }
                        after_comma = b == b',';
                        at = if b == b',' {
                            At::BeforeElement
                        } else {
                            At::AfterArray
                        };
                        false
                    }
                    _ if b.is_ascii_whitespace() => at == At::InElement,
                    _ => {
                        if at == At::BeforeElement {
                            at = At::InElement;
                            elem_line = line;
                        }
                        match b {
                            b'"' => in_string = true,
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => depth = depth.saturating_sub(1),
                            _ => {}
                        }
                        true
                    }
                }
            };
            if joins {
                // Counted against the limit before it is kept.
                if elem.len() >= max {
                    let what = format!("array element {}", index + 1);
                    return emit_error(sink, too_long(file, elem_line, &what, max));
                }
                make_room(&mut elem, 1, max);
                elem.push(b);
            }
        }
        reader.consume(len);
    }
    if at == At::AfterArray {
        return true;
    }
    let message = "unexpected end of input: the JSON array is not closed with `]`".to_string();
    emit_error(sink, input_error(file, line, message))
}

/// Parses and sends one array element (1-based `index`, starting on line `elem_line`);
/// `false` to stop.
fn emit_element(
    sink: &mut Sink<'_>,
    file: &Arc<str>,
    elem: &mut Vec<u8>,
    index: u64,
    elem_line: u64,
) -> bool {
    let parsed = parse(elem);
    elem.clear();
    let item = match parsed {
        Ok(attrs) => Ok(Item {
            attrs,
            origin: Some(Origin {
                file: Arc::clone(file),
                line: None,
                index: Some(index),
            }),
        }),
        Err(e) => Err(input_error(
            file,
            elem_line + (e.line() as u64).saturating_sub(1),
            format!("array element {index}: {}", json_message(&e)),
        )),
    };
    let failed = item.is_err();
    sink(item) && !failed
}

/// One item's JSON. Text that is valid UTF-8 as a whole (checked in one pass) is parsed as a
/// `str`, which spares serde_json checking each string on its own; anything else is parsed
/// from the bytes, so that malformed input gets serde_json's own message and position.
fn parse(bytes: &[u8]) -> serde_json::Result<J> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Sends the error that ends the input; always `false` (stop).
fn emit_error(sink: &mut Sink<'_>, error: Error) -> bool {
    sink(Err(error));
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An item read: attrs, line, index.
    type Read = (J, Option<u64>, Option<u64>);

    /// Reads `text` and returns the items and the error, if any.
    fn read(text: &str) -> (Vec<Read>, Option<String>) {
        read_max(text, usize::MAX)
    }

    /// As [`read`], with items of at most `max` bytes.
    fn read_max(text: &str, max: usize) -> (Vec<Read>, Option<String>) {
        let mut items = Vec::new();
        let mut error = None;
        let file: Arc<str> = Arc::from("in.json");
        let mut sink = |r: Result<Item>| {
            match r {
                Ok(item) => {
                    let o = item.origin.expect("origin");
                    items.push((item.attrs, o.line, o.index));
                }
                Err(e) => error = Some(e.to_string()),
            }
            true
        };
        read_source(text.as_bytes(), &file, max, &mut sink);
        (items, error)
    }

    #[test]
    fn ndjson_lines_are_numbered_from_one_and_blank_lines_skipped() {
        let (items, error) = read("\n{\"id\":1}\r\n\n  {\"id\":2}  \n");
        assert_eq!(error, None);
        assert_eq!(
            items,
            vec![
                (json!({"id": 1}), Some(2), None),
                (json!({"id": 2}), Some(4), None)
            ]
        );
    }

    #[test]
    fn a_malformed_ndjson_line_ends_the_input_naming_its_line() {
        let (items, error) = read("{\"id\":1}\n{\"id\":2}\n{\"id\":\n{\"id\":4}\n");
        assert_eq!(items.len(), 2);
        let e = error.expect("an error");
        assert!(e.contains("`in.json` line 3"), "{e}");
        assert!(e.contains("EOF while parsing"), "{e}");
    }

    #[test]
    fn invalid_utf8_in_a_line_gets_serde_json_message_and_position() {
        let file: Arc<str> = Arc::from("in.json");
        let mut error = None;
        let mut sink = |r: Result<Item>| {
            if let Err(e) = r {
                error = Some(e.to_string());
            }
            true
        };
        read_source(
            &b"{\"id\":1}\n{\"s\":\"a\xff\"}\n"[..],
            &file,
            usize::MAX,
            &mut sink,
        );
        let e = error.expect("an error");
        assert!(e.contains("`in.json` line 2"), "{e}");
        assert!(e.contains("invalid unicode code point (column 8)"), "{e}");
    }

    #[test]
    fn a_json_array_is_read_element_by_element_with_indexes() {
        let text =
            " \n [ {\"id\": 1, \"s\": \"a,]}\\\"\"},\n  {\"id\": [2, {\"x\": 3}]}, 7, \"x\" ]\n ";
        let (items, error) = read(text);
        assert_eq!(error, None);
        assert_eq!(
            items,
            vec![
                (json!({"id": 1, "s": "a,]}\""}), None, Some(1)),
                (json!({"id": [2, {"x": 3}]}), None, Some(2)),
                (json!(7), None, Some(3)),
                (json!("x"), None, Some(4)),
            ]
        );
        assert_eq!(read("[]").0.len(), 0);
        assert_eq!(read("").0.len(), 0);
    }

    #[test]
    fn a_broken_json_array_names_the_element_and_its_line() {
        let (items, error) = read("[\n{\"id\": 1},\n{\"id\" 2},\n{\"id\": 3}\n]");
        assert_eq!(items.len(), 1);
        let e = error.expect("an error");
        assert!(e.contains("line 3") && e.contains("array element 2"), "{e}");

        let (_, error) = read("[{\"id\": 1},]");
        assert!(error.expect("error").contains("expected a value"));
        let (_, error) = read("[{\"id\": 1}");
        assert!(error.expect("error").contains("not closed"));
        let (_, error) = read("[{\"id\": 1}] x");
        assert!(error.expect("error").contains("after the end"));
    }

    /// A reader that yields `prefix`, then `x` forever, and counts what was read.
    struct Endless {
        prefix: &'static [u8],
        read: usize,
    }

    impl std::io::Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            for (i, b) in out.iter_mut().enumerate() {
                *b = self.prefix.get(self.read + i).copied().unwrap_or(b'x');
            }
            self.read += out.len();
            Ok(out.len())
        }
    }

    /// Reads an endless input whose item never ends, with items of at most `max` bytes: the
    /// error, and how many bytes were read from the input.
    fn read_endless(prefix: &'static [u8], max: usize) -> (usize, String, usize) {
        let mut reader = std::io::BufReader::with_capacity(4096, Endless { prefix, read: 0 });
        let mut items = 0;
        let mut error = None;
        let file: Arc<str> = Arc::from("-");
        read_source(&mut reader, &file, max, &mut |r| {
            match r {
                Ok(_) => items += 1,
                Err(e) => error = Some(e.to_string()),
            }
            true
        });
        (items, error.expect("an error"), reader.get_ref().read)
    }

    #[test]
    fn an_endless_ndjson_line_fails_once_past_the_limit_naming_its_line() {
        let (items, e, read) = read_endless(b"{\"id\": 1}\n\n\"", 100_000);
        assert_eq!(items, 1);
        assert_eq!(
            e,
            "malformed input in `-` line 3: line is longer than 100000 bytes, the item limit \
             (`--max-item-bytes`, option `max_item_bytes`)"
        );
        assert!(read <= 100_000 + 2 * 4096, "read {read} bytes");
    }

    #[test]
    fn an_endless_array_element_fails_once_past_the_limit_naming_its_index_and_line() {
        let (items, e, read) = read_endless(b"[1,\n {\"s\": \"", 100_000);
        assert_eq!(items, 1);
        assert!(
            e.starts_with(
                "malformed input in `-` line 2: array element 2 is longer than 100000 bytes"
            ),
            "{e}"
        );
        assert!(read <= 100_000 + 2 * 4096, "read {read} bytes");
    }

    #[test]
    fn an_item_of_exactly_the_limit_is_read_and_one_byte_more_is_not() {
        // NDJSON: the line's bytes before its `\n` count (blank space and `\r` included).
        let line = "{\"id\": 12} ";
        let n = line.len();
        let (items, error) = read_max(&format!("{line}\r\n"), n + 1);
        assert_eq!((items.len(), error), (1, None));
        let (items, error) = read_max(&format!("{line}\n{line}"), n);
        assert_eq!((items.len(), error), (2, None));
        let (items, error) = read_max(&format!("{line}\n{line}x\n"), n);
        assert_eq!(items.len(), 1);
        let e = error.expect("error");
        assert!(
            e.contains(&format!("line 2: line is longer than {n} bytes")),
            "{e}"
        );

        // Array: an element's bytes from its first non-blank one to the `,` or `]` count.
        let elem = "{\"id\": [1]}";
        let n = elem.len();
        let (items, error) = read_max(&format!("[  {elem},\n\t{elem}]"), n);
        assert_eq!((items.len(), error), (2, None));
        let (items, error) = read_max(&format!("[{elem}, {elem} ]"), n);
        assert_eq!(items.len(), 1);
        let e = error.expect("error");
        assert!(
            e.contains(&format!("array element 2 is longer than {n} bytes")),
            "{e}"
        );
    }

    #[test]
    fn the_progress_counts_every_byte_of_each_input_once_read() {
        use futures::StreamExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let array = dir.path().join("a.json");
        let ndjson = dir.path().join("b.ndjson");
        std::fs::write(&array, "\u{feff} \n[{\"id\": 1},\n {\"id\": 2}]\n\n").expect("write");
        std::fs::write(&ndjson, "\n{\"id\": 3}\n\n{\"id\": 4}").expect("write");
        let size = |p: &Path| std::fs::metadata(p).expect("metadata").len();
        let sources = vec![Source::File(array.clone()), Source::File(ndjson.clone())];
        let (items, progress) = stream_with_progress(sources, 1024).expect("stream");
        assert_eq!(progress.total_bytes(), Some(size(&array) + size(&ndjson)));
        let items: Vec<Result<Item>> = futures::executor::block_on(items.collect());
        assert_eq!(items.len(), 4);
        assert_eq!(progress.bytes_read(), size(&array) + size(&ndjson));
    }

    #[test]
    fn only_a_regular_file_has_a_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a.ndjson");
        std::fs::write(&file, "{}\n").expect("write");
        assert_eq!(Source::File(file.clone()).size(), Some(3));
        assert_eq!(Source::Stdin.size(), None);
        assert_eq!(Source::File(dir.path().to_path_buf()).size(), None);
    }
}
