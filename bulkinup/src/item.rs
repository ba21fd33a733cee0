//! Input items: a JSON object of attrs, and where it came from; ranges of the input, and the
//! ledger of the ranges a call has committed.

use std::collections::HashMap;
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

/// What [`upsert`](crate::upsert), [`insert`](crate::insert) and [`write`](crate::write)
/// accept as one item: an [`Item`], or a value of any type that implements
/// [`serde::Serialize`] — a `serde_json::Value`, or your own typed structs with
/// `#[derive(Serialize)]` — serialized to its JSON attrs (a struct becomes an object of its
/// fields, under the names serde gives them, `#[serde(rename = …)]` included).
///
/// A value that serializes to something other than an object is skipped as invalid, like a
/// JSON line that is not an object; one that cannot be serialized at all (a map with
/// non-string keys) is [`Error::Input`](crate::Error::Input) at its position, and rolls back
/// the call. Serializing copies the value: a `serde_json::Value` you no longer need is handed
/// over without a copy as `Item::from(value)`.
///
/// ```
/// use bulkinup::{Db, Options, Registry};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Tag {
///     id: i64,
///     name: String,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let registry = Registry::from_toml_str(
///     "[schemas.Tag]\nsource = \"tags\"\nfields = { id = \"integer\", name = \"string\" }",
///     "inline",
/// )?
/// .registry;
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)").await?;
/// let tags = vec![Tag { id: 1, name: "rust".into() }, Tag { id: 2, name: "sql".into() }];
/// let summary = bulkinup::upsert(&db, &registry, "Tag", tags, &Options::default()).await?;
/// assert_eq!(summary.rows["tags"], 2);
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
pub trait IntoItem {
    /// The item, or the serializer's error.
    ///
    /// # Errors
    /// When the value cannot be serialized to JSON.
    fn into_item(self) -> Result<Item, serde_json::Error>;
}

impl IntoItem for Item {
    fn into_item(self) -> Result<Item, serde_json::Error> {
        Ok(self)
    }
}

impl<T: serde::Serialize> IntoItem for T {
    fn into_item(self) -> Result<Item, serde_json::Error> {
        serde_json::to_value(self).map(Item::from)
    }
}

/// What the numbers of an [`InputRange`] count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Numbering {
    /// The 1-based lines of an NDJSON input ([`Origin::line`]).
    Lines,
    /// The 1-based elements of a JSON array input ([`Origin::index`]).
    Elements,
    /// The 1-based positions of the items in the call's input, for items without a line or
    /// element (an iterator or a stream of values).
    Items,
}

impl Numbering {
    /// `line`/`lines`, `element`/`elements`, `item`/`items`.
    fn word(self, plural: bool) -> &'static str {
        match (self, plural) {
            (Numbering::Lines, false) => "line",
            (Numbering::Lines, true) => "lines",
            (Numbering::Elements, false) => "element",
            (Numbering::Elements, true) => "elements",
            (Numbering::Items, false) => "item",
            (Numbering::Items, true) => "items",
        }
    }
}

/// A range of the input: the items numbered `first..=last` (both included) of one input file,
/// counted by [`Numbering`]. With `max_concurrency` a call reports the ranges it committed
/// ([`Error::PartlyCommitted`](crate::Error::PartlyCommitted), the `on_committed` handler).
///
/// ```
/// use bulkinup::{InputRange, Numbering};
/// let r = |first, last| InputRange {
///     file: Some("feed.ndjson".into()),
///     numbering: Numbering::Lines,
///     first,
///     last,
/// };
/// assert_eq!(
///     InputRange::describe_committed(&[r(1, 1000), r(3001, 4000)]),
///     "committed: lines 1-1000 and 3001-4000 of `feed.ndjson`; the rest was rolled back or not read"
/// );
/// assert_eq!(InputRange::describe_committed(&[]), "nothing was committed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRange {
    /// The input file (`-` for standard input); `None` for items without an origin.
    pub file: Option<Arc<str>>,
    /// What `first` and `last` count.
    pub numbering: Numbering,
    /// The range's first line, element or item (1-based).
    pub first: u64,
    /// The range's last line, element or item (1-based, included).
    pub last: u64,
}

impl InputRange {
    /// Extends `ranges` (those of one chunk, in input order) with the item read `position`-th
    /// in the call (1-based) from `origin`: the last range grows when the item comes from its
    /// file, counted alike; otherwise the item starts a new range (a chunk that spans two
    /// input files is two ranges).
    pub(crate) fn extend(ranges: &mut Vec<InputRange>, origin: Option<&Origin>, position: u64) {
        let (file, numbering, n) = match origin {
            Some(Origin {
                file,
                line: Some(line),
                ..
            }) => (Some(file), Numbering::Lines, *line),
            Some(Origin {
                file,
                index: Some(index),
                ..
            }) => (Some(file), Numbering::Elements, *index),
            Some(Origin { file, .. }) => (Some(file), Numbering::Items, position),
            None => (None, Numbering::Items, position),
        };
        if let Some(last) = ranges.last_mut()
            && last.numbering == numbering
            && last.file.as_deref() == file.map(|f| &**f)
            && n > last.last
        {
            last.last = n;
            return;
        }
        ranges.push(InputRange {
            file: file.cloned(),
            numbering,
            first: n,
            last: n,
        });
    }

    /// The ranges in words: `lines 1-1000 and 3001-4000 of `feed.ndjson``, one group per
    /// file (in the order given) joined by commas; `nothing` when there is none. Standard
    /// input is `standard input`, items without an origin `the input`.
    pub fn describe(ranges: &[InputRange]) -> String {
        if ranges.is_empty() {
            return "nothing".into();
        }
        let mut groups: Vec<&[InputRange]> = Vec::new();
        let mut start = 0;
        for i in 1..=ranges.len() {
            let split = i == ranges.len()
                || ranges[i].file != ranges[start].file
                || ranges[i].numbering != ranges[start].numbering;
            if split {
                groups.push(&ranges[start..i]);
                start = i;
            }
        }
        let words: Vec<String> = groups
            .iter()
            .map(|group| {
                let plural = group.len() > 1 || group[0].first != group[0].last;
                let spans: Vec<String> = group
                    .iter()
                    .map(|r| match r.first == r.last {
                        true => r.first.to_string(),
                        false => format!("{}-{}", r.first, r.last),
                    })
                    .collect();
                let spans = match spans.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                    None => String::new(),
                };
                let of = match group[0].file.as_deref() {
                    Some("-") => "standard input".to_string(),
                    Some(file) => format!("`{file}`"),
                    None => "the input".to_string(),
                };
                format!("{} {spans} of {of}", group[0].numbering.word(plural))
            })
            .collect();
        words.join(", ")
    }

    /// What a call with `max_concurrency` committed, in words, as its errors say it:
    /// `committed: lines 1-1000 of `feed.ndjson`; the rest was rolled back or not read`, or
    /// `nothing was committed`.
    pub fn describe_committed(ranges: &[InputRange]) -> String {
        match ranges.is_empty() {
            true => "nothing was committed".into(),
            false => format!(
                "committed: {}; the rest was rolled back or not read",
                InputRange::describe(ranges)
            ),
        }
    }
}

/// The input ranges of the chunks a call has committed: merged (adjacent or overlapping
/// ranges of one file and numbering become one, and so do two chunks read one after the
/// other, whatever blank lines lie between them) and sorted — files in the order the call
/// read them, ranges by their first number.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Each file's place in the input, as the chunks were read.
    order: HashMap<Option<Arc<str>>, usize>,
    /// The last range of the chunk read last.
    last_read: Option<InputRange>,
    /// The numbers between two chunks read one after the other that hold no item (blank
    /// lines): `(file, numbering, first)` → last.
    empty: HashMap<(Option<Arc<str>>, Numbering, u64), u64>,
    ranges: Vec<InputRange>,
}

impl Ledger {
    /// Notes a chunk just read, in input order (before it is written): its files' places,
    /// and the numbers between it and the chunk read before that hold no item.
    pub(crate) fn read(&mut self, ranges: &[InputRange]) {
        self.place_files(ranges);
        if let (Some(before), Some(first)) = (&self.last_read, ranges.first())
            && before.file == first.file
            && before.numbering == first.numbering
            && first.first > before.last.saturating_add(1)
        {
            let key = (first.file.clone(), first.numbering, before.last + 1);
            self.empty.insert(key, first.first - 1);
        }
        if let Some(last) = ranges.last() {
            self.last_read = Some(last.clone());
        }
    }

    /// Gives each file not seen before the next place in the input.
    fn place_files(&mut self, ranges: &[InputRange]) {
        for r in ranges {
            let next = self.order.len();
            self.order.entry(r.file.clone()).or_insert(next);
        }
    }

    /// Whether nothing lies between `m` and the range starting at `first` after it.
    fn adjacent(&self, m: &InputRange, first: u64) -> bool {
        first <= m.last.saturating_add(1)
            || self
                .empty
                .get(&(m.file.clone(), m.numbering, m.last + 1))
                .is_some_and(|&last| last + 1 >= first)
    }

    /// Adds the ranges of a chunk that committed.
    pub(crate) fn committed(&mut self, ranges: &[InputRange]) {
        self.place_files(ranges);
        self.ranges.extend_from_slice(ranges);
        let order = &self.order;
        self.ranges.sort_by_key(|r| {
            let place = order.get(&r.file).copied().unwrap_or(usize::MAX);
            (place, r.numbering, r.first, r.last)
        });
        let mut merged: Vec<InputRange> = Vec::with_capacity(self.ranges.len());
        for r in std::mem::take(&mut self.ranges) {
            match merged.last_mut() {
                Some(m)
                    if m.file == r.file
                        && m.numbering == r.numbering
                        && self.adjacent(m, r.first) =>
                {
                    m.last = m.last.max(r.last);
                }
                _ => merged.push(r),
            }
        }
        self.ranges = merged;
    }

    /// The ranges committed so far, merged and sorted.
    pub(crate) fn ranges(&self) -> &[InputRange] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(file: &str, numbering: Numbering, first: u64, last: u64) -> InputRange {
        InputRange {
            file: Some(file.into()),
            numbering,
            first,
            last,
        }
    }

    fn origin(file: &str, line: Option<u64>, index: Option<u64>) -> Origin {
        Origin {
            file: file.into(),
            line,
            index,
        }
    }

    #[test]
    fn a_chunk_across_two_files_is_two_ranges() {
        let mut ranges = Vec::new();
        for (position, o) in [
            origin("a.ndjson", Some(9), None),
            origin("a.ndjson", Some(11), None), // line 10 blank
            origin("b.json", None, Some(1)),
            origin("b.json", None, Some(2)),
        ]
        .iter()
        .enumerate()
        {
            InputRange::extend(&mut ranges, Some(o), position as u64 + 1);
        }
        assert_eq!(
            ranges,
            [
                range("a.ndjson", Numbering::Lines, 9, 11),
                range("b.json", Numbering::Elements, 1, 2)
            ]
        );
    }

    #[test]
    fn items_without_origin_are_numbered_by_position() {
        let mut ranges = Vec::new();
        for position in 5..=7 {
            InputRange::extend(&mut ranges, None, position);
        }
        assert_eq!(
            ranges,
            [InputRange {
                file: None,
                numbering: Numbering::Items,
                first: 5,
                last: 7
            }]
        );
        assert_eq!(InputRange::describe(&ranges), "items 5-7 of the input");
    }

    #[test]
    fn committed_ranges_merge_when_adjacent_or_overlapping_and_sort_in_input_order() {
        let mut ledger = Ledger::default();
        let chunks = [
            vec![range("b.ndjson", Numbering::Lines, 1, 10)],
            vec![range("b.ndjson", Numbering::Lines, 11, 20)],
            vec![
                range("b.ndjson", Numbering::Lines, 21, 25),
                range("a.ndjson", Numbering::Lines, 1, 5),
            ],
            vec![range("a.ndjson", Numbering::Lines, 6, 15)],
            vec![range("a.ndjson", Numbering::Lines, 16, 30)],
        ];
        // Read in input order (b before a); committed out of order, chunk 2 and 4 not at all,
        // chunk 3 twice (overlapping itself).
        for c in &chunks {
            ledger.read(c);
        }
        for i in [4, 0, 2, 2] {
            ledger.committed(&chunks[i]);
        }
        assert_eq!(
            ledger.ranges(),
            [
                range("b.ndjson", Numbering::Lines, 1, 10),
                range("b.ndjson", Numbering::Lines, 21, 25),
                range("a.ndjson", Numbering::Lines, 1, 5),
                range("a.ndjson", Numbering::Lines, 16, 30),
            ]
        );
        ledger.committed(&chunks[1]);
        ledger.committed(&chunks[3]);
        assert_eq!(
            ledger.ranges(),
            [
                range("b.ndjson", Numbering::Lines, 1, 25),
                range("a.ndjson", Numbering::Lines, 1, 30),
            ]
        );
    }

    #[test]
    fn chunks_read_one_after_the_other_merge_across_blank_lines() {
        let mut ledger = Ledger::default();
        let chunks = [
            vec![range("a.ndjson", Numbering::Lines, 1, 3)],
            vec![range("a.ndjson", Numbering::Lines, 5, 7)], // line 4 blank
            vec![range("a.ndjson", Numbering::Lines, 10, 12)], // lines 8-9 blank
        ];
        for c in &chunks {
            ledger.read(c);
        }
        ledger.committed(&chunks[0]);
        ledger.committed(&chunks[2]);
        assert_eq!(
            ledger.ranges(),
            [
                range("a.ndjson", Numbering::Lines, 1, 3),
                range("a.ndjson", Numbering::Lines, 10, 12)
            ]
        );
        ledger.committed(&chunks[1]);
        assert_eq!(
            ledger.ranges(),
            [range("a.ndjson", Numbering::Lines, 1, 12)]
        );
    }

    #[test]
    fn ranges_in_words_group_by_file() {
        let ranges = [
            range("a.ndjson", Numbering::Lines, 1, 10),
            range("a.ndjson", Numbering::Lines, 21, 30),
            range("a.ndjson", Numbering::Lines, 41, 41),
            range("b.json", Numbering::Elements, 3, 3),
            range("-", Numbering::Lines, 1, 2),
        ];
        assert_eq!(
            InputRange::describe(&ranges),
            "lines 1-10, 21-30 and 41 of `a.ndjson`, element 3 of `b.json`, lines 1-2 of standard input"
        );
    }
}
