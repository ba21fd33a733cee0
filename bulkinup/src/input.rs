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
//! call.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::item::{Item, Origin};
use futures::Stream;
use serde_json::Value as J;

/// How many items the reader thread may read ahead of the call.
pub const READ_AHEAD: usize = 1024;

/// The read buffer of an input file.
const BUFFER: usize = 256 * 1024;

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
                        format!("cannot read `{}`: {why}", p.display()),
                        None,
                    )
                };
                if p.is_dir() {
                    return Err(unreadable("it is a directory".into()));
                }
                File::open(p).map_err(|e| unreadable(e.to_string()))?;
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

    /// The name items from this input carry in their origin: the path, or `-`.
    pub fn name(&self) -> Arc<str> {
        match self {
            Source::Stdin => Arc::from("-"),
            Source::File(p) => Arc::from(p.display().to_string()),
        }
    }
}

/// Reads `sources` in order on a reader thread and returns their items as one stream. The
/// stream ends after the first error (which it yields).
///
/// # Errors
/// [`Error::Io`] when the reader thread cannot be started.
pub fn stream(sources: Vec<Source>) -> Result<impl Stream<Item = Result<Item>> + Send + 'static> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Item>>(READ_AHEAD);
    std::thread::Builder::new()
        .name("bulkinup-input".into())
        .spawn(move || {
            let mut sink = |item: Result<Item>| tx.blocking_send(item).is_ok();
            read_all(&sources, &mut sink);
        })
        .map_err(|source| Error::Io { path: None, source })?;
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Receives each item (or the one error that ends the input); returns `false` to stop.
pub type Sink<'a> = dyn FnMut(Result<Item>) -> bool + 'a;

/// Reads every source in order into `sink`, stopping at the first error.
fn read_all(sources: &[Source], sink: &mut Sink<'_>) {
    for source in sources {
        let name = source.name();
        let going_on = match source {
            Source::Stdin => read_source(std::io::stdin().lock(), &name, sink),
            Source::File(path) => match open(path) {
                Ok(reader) => read_source(reader, &name, sink),
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

/// Reads one input (NDJSON or a JSON array, by its first non-blank character) into `sink`.
/// Returns `false` when reading should stop (an error was sent, or the sink is closed).
pub fn read_source<R: BufRead>(mut reader: R, file: &Arc<str>, sink: &mut Sink<'_>) -> bool {
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
        read_array(reader, file, lines_before + 1, sink)
    } else {
        read_ndjson(reader, file, lines_before, sink)
    }
}

/// NDJSON: one JSON value per line; blank lines are skipped. `line` is the number of lines
/// already consumed.
fn read_ndjson<R: BufRead>(
    mut reader: R,
    file: &Arc<str>,
    mut line: u64,
    sink: &mut Sink<'_>,
) -> bool {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return emit_error(sink, io_error(file, e)),
        }
        line += 1;
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let item = match serde_json::from_slice::<J>(text) {
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

/// A JSON array, element by element. The reader is at the `[`, on line `line`.
fn read_array<R: BufRead>(
    mut reader: R,
    file: &Arc<str>,
    mut line: u64,
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
            if in_string {
                elem.push(b);
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
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
                }
                _ if b.is_ascii_whitespace() => {
                    if at == At::InElement {
                        elem.push(b);
                    }
                }
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
                    elem.push(b);
                }
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
    let parsed = serde_json::from_slice::<J>(elem);
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
        read_source(text.as_bytes(), &file, &mut sink);
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
}
