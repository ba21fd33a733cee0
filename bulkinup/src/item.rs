//! Input items: a JSON object of attrs, and where it came from.

use std::sync::Arc;

/// Where an input item came from, for reports of skipped items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The input file (`-` for standard input).
    pub file: Arc<str>,
    /// The 1-based line, for NDJSON input.
    pub line: Option<u64>,
    /// The 1-based element, for a JSON array input.
    pub index: Option<u64>,
}

/// One input item: the attrs of one root record, nested children included.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The attrs (a JSON object; anything else is skipped as invalid).
    pub attrs: serde_json::Value,
    /// Where it came from, when known.
    pub origin: Option<Origin>,
}

impl From<serde_json::Value> for Item {
    fn from(attrs: serde_json::Value) -> Self {
        Item {
            attrs,
            origin: None,
        }
    }
}
