//! The reference workload (BENCHMARKS.md, "The workload"), generated deterministically from the author's index.
//!
//! Author `i` (1-based) has one profile (id `i`), five posts (ids `5(i-1)+1 ..= 5i`), four
//! comments per post (ids `4(p-1)+1 ..= 4p`), three distinct tags per post drawn from a pool
//! of [`TAG_POOL`] tags by index arithmetic, an `address` embed and two `social_links` embeds.
//! Every post points at one of [`CATEGORIES`] categories, which are seeded before each method
//! and are not part of the measured rows (nested `belongs_to` data is not written: README, "What one call does").
//!
//! The same generator feeds both sides of the comparison: [`Workload::items`] yields the
//! nested JSON items lazily for bulkinup, and [`Workload::flatten`] gives the rows per table
//! that the baselines write.

use std::collections::BTreeMap;

use serde_json::Value as J;
use serde_json::value::RawValue;

/// Posts per author.
pub const POSTS_PER_AUTHOR: u64 = 5;
/// Comments per post.
pub const COMMENTS_PER_POST: u64 = 4;
/// Tags per post (distinct within a post).
pub const TAGS_PER_POST: u64 = 3;
/// The size of the tag pool the posts draw from.
pub const TAG_POOL: u64 = 1_000;
/// Categories seeded before each method (posts reference them by `category_id`).
pub const CATEGORIES: u64 = 10;

const CITIES: [&str; 8] = [
    "Springfield",
    "Riverside",
    "Fairview",
    "Madison",
    "Georgetown",
    "Clinton",
    "Arlington",
    "Salem",
];

/// The tables the workload writes, in parent-before-child order, with their columns
/// (the columns bulkinup writes for the blog schema) and conflict keys.
pub const TABLES: [TableDef; 6] = [
    TableDef {
        name: "authors",
        columns: &[
            "id",
            "name",
            "phone_number",
            "inserted_at",
            "address",
            "social_links",
        ],
        key: &["id"],
    },
    TableDef {
        name: "profiles",
        columns: &["id", "author_id", "bio"],
        key: &["id"],
    },
    TableDef {
        name: "posts",
        columns: &["id", "author_id", "category_id", "title", "inserted_at"],
        key: &["id"],
    },
    TableDef {
        name: "comments",
        columns: &["id", "post_id", "body"],
        key: &["id"],
    },
    TableDef {
        name: "tags",
        columns: &["id", "name"],
        key: &["id"],
    },
    TableDef {
        name: "posts_tags",
        columns: &["post_id", "tag_id"],
        key: &["post_id", "tag_id"],
    },
];

/// The categories table, seeded (not measured) before each method.
pub const CATEGORIES_TABLE: TableDef = TableDef {
    name: "categories",
    columns: &["id", "name"],
    key: &["id"],
};

/// A table's name, columns and conflict key.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// The table.
    pub name: &'static str,
    /// Its columns, in the order of each row's cells.
    pub columns: &'static [&'static str],
    /// The conflict key (primary key; both join keys for `posts_tags`).
    pub key: &'static [&'static str],
}

impl TableDef {
    /// The columns an upsert replaces: every column outside the key. Empty means
    /// "do nothing on conflict" (the join table).
    pub fn update_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns
            .iter()
            .copied()
            .filter(|c| !self.key.contains(c))
    }
}

/// One value of a flattened row.
#[derive(Debug, Clone)]
pub enum Cell {
    /// A `BIGINT`.
    Int(i64),
    /// A text column.
    Text(String),
    /// A JSON column (embeds), already serialized as bulkinup stores it.
    Json(Box<RawValue>),
    /// A `NULL` timestamp (`inserted_at`, which the blog changesets do not cast).
    NullTimestamp,
}

impl Cell {
    /// The cell as a CSV field (RFC 4180): a number as is, text and JSON quoted with
    /// inner quotes doubled, `NULL` as an empty field.
    pub fn to_csv(&self) -> String {
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        match self {
            Cell::Int(i) => i.to_string(),
            Cell::Text(s) => quoted(s),
            Cell::Json(r) => quoted(r.get()),
            Cell::NullTimestamp => String::new(),
        }
    }
}

/// One table's rows, flattened.
#[derive(Debug)]
pub struct Table {
    /// Name, columns and key.
    pub def: TableDef,
    /// The rows, each with one cell per column of `def`.
    pub rows: Vec<Vec<Cell>>,
}

/// The reference workload for a number of authors.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// How many top-level items (authors).
    pub authors: u64,
}

/// One author and everything nested in it, as plain values.
struct Author {
    id: u64,
    name: String,
    phone_number: String,
    street: String,
    city: &'static str,
    links: [(&'static str, String); 2],
    bio: String,
    posts: Vec<Post>,
}

struct Post {
    id: u64,
    category_id: u64,
    title: String,
    comments: Vec<(u64, String)>,
    tags: [u64; TAGS_PER_POST as usize],
}

/// The three distinct tag ids (1-based) of a post: index arithmetic over the pool. The
/// multiplier is coprime with the pool size, so consecutive posts spread over the whole pool
/// and every tag is used once there are at least [`TAG_POOL`] posts.
fn tag_ids(post_id: u64) -> [u64; TAGS_PER_POST as usize] {
    let h = post_id.wrapping_mul(2_654_435_761) % TAG_POOL;
    [h, (h + 337) % TAG_POOL, (h + 674) % TAG_POOL].map(|t| t + 1)
}

fn tag_name(tag_id: u64) -> String {
    format!("tag-{tag_id}")
}

fn author(i: u64) -> Author {
    let posts = (0..POSTS_PER_AUTHOR)
        .map(|j| {
            let p = (i - 1) * POSTS_PER_AUTHOR + j + 1;
            Post {
                id: p,
                category_id: p % CATEGORIES + 1,
                title: format!("Post {p} by author {i}"),
                comments: (0..COMMENTS_PER_POST)
                    .map(|k| {
                        let c = (p - 1) * COMMENTS_PER_POST + k + 1;
                        (c, format!("Comment {k} on post {p}: a short remark."))
                    })
                    .collect(),
                tags: tag_ids(p),
            }
        })
        .collect();
    Author {
        id: i,
        name: format!("Author {i}"),
        phone_number: format!("555-{:04}", i % 10_000),
        street: format!("{i} Main Street"),
        city: CITIES[(i % CITIES.len() as u64) as usize],
        links: [
            ("web", format!("https://example.com/authors/{i}")),
            ("git", format!("https://git.example.com/author-{i}")),
        ],
        bio: format!("Bio of author {i}: writes about databases and bulk loading."),
        posts,
    }
}

impl Author {
    fn address_json(&self) -> J {
        object([
            ("street", J::from(self.street.as_str())),
            ("city", J::from(self.city)),
        ])
    }

    fn links_json(&self) -> J {
        J::Array(
            self.links
                .iter()
                .map(|(label, url)| {
                    object([("label", J::from(*label)), ("url", J::from(url.as_str()))])
                })
                .collect(),
        )
    }

    /// The nested item of author `i`. Built by moving values into place: `json!` would
    /// serialize (deep-copy) every nested value it is given, and the copies would be timed
    /// with bulkinup.
    fn to_json(&self) -> J {
        let id = self.id;
        let posts: Vec<J> = self
            .posts
            .iter()
            .map(|p| {
                let comments = p
                    .comments
                    .iter()
                    .map(|(c, body)| {
                        object([
                            ("id", J::from(*c)),
                            ("post_id", J::from(p.id)),
                            ("body", J::from(body.as_str())),
                        ])
                    })
                    .collect();
                let tags = p
                    .tags
                    .iter()
                    .map(|&t| object([("id", J::from(t)), ("name", J::from(tag_name(t)))]))
                    .collect();
                object([
                    ("id", J::from(p.id)),
                    ("author_id", J::from(id)),
                    ("title", J::from(p.title.as_str())),
                    ("category_id", J::from(p.category_id)),
                    ("comments", J::Array(comments)),
                    ("tags", J::Array(tags)),
                ])
            })
            .collect();
        object([
            ("id", J::from(id)),
            ("name", J::from(self.name.as_str())),
            ("phone_number", J::from(self.phone_number.as_str())),
            ("address", self.address_json()),
            ("social_links", self.links_json()),
            (
                "profile",
                object([
                    ("id", J::from(id)),
                    ("author_id", J::from(id)),
                    ("bio", J::from(self.bio.as_str())),
                ]),
            ),
            ("posts", J::Array(posts)),
        ])
    }
}

/// A JSON object from its entries, moved in.
fn object<const N: usize>(entries: [(&str, J); N]) -> J {
    J::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn int(v: u64) -> Cell {
    Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn raw(v: &J) -> Cell {
    // Serializing a `serde_json::Value` cannot fail, and its text is valid JSON.
    match RawValue::from_string(v.to_string()) {
        Ok(r) => Cell::Json(r),
        Err(_) => Cell::Text(v.to_string()),
    }
}

impl Workload {
    /// The nested items, generated one at a time as they are pulled.
    pub fn items(&self) -> impl Iterator<Item = J> + Send + 'static {
        (1..=self.authors).map(|i| author(i).to_json())
    }

    /// Every row of every table, per table in [`TABLES`] order; tags once each.
    pub fn flatten(&self) -> Vec<Table> {
        let n = usize::try_from(self.authors).unwrap_or(usize::MAX);
        let posts = n * POSTS_PER_AUTHOR as usize;
        let mut rows: [Vec<Vec<Cell>>; 6] = [
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(posts),
            Vec::with_capacity(posts * COMMENTS_PER_POST as usize),
            Vec::with_capacity(TAG_POOL as usize),
            Vec::with_capacity(posts * TAGS_PER_POST as usize),
        ];
        let mut tag_seen = [false; TAG_POOL as usize];
        for i in 1..=self.authors {
            let a = author(i);
            rows[0].push(vec![
                int(a.id),
                Cell::Text(a.name.clone()),
                Cell::Text(a.phone_number.clone()),
                Cell::NullTimestamp,
                raw(&a.address_json()),
                raw(&a.links_json()),
            ]);
            rows[1].push(vec![int(a.id), int(a.id), Cell::Text(a.bio)]);
            for p in a.posts {
                rows[2].push(vec![
                    int(p.id),
                    int(a.id),
                    int(p.category_id),
                    Cell::Text(p.title),
                    Cell::NullTimestamp,
                ]);
                for (c, body) in p.comments {
                    rows[3].push(vec![int(c), int(p.id), Cell::Text(body)]);
                }
                for t in p.tags {
                    rows[5].push(vec![int(p.id), int(t)]);
                    tag_seen[(t - 1) as usize] = true;
                }
            }
        }
        rows[4] = (1..=TAG_POOL)
            .filter(|t| tag_seen[(t - 1) as usize])
            .map(|t| vec![int(t), Cell::Text(tag_name(t))])
            .collect();
        TABLES
            .into_iter()
            .zip(rows)
            .map(|(def, rows)| Table { def, rows })
            .collect()
    }

    /// The categories seeded before each method.
    pub fn categories() -> Table {
        Table {
            def: CATEGORIES_TABLE,
            rows: (1..=CATEGORIES)
                .map(|c| vec![int(c), Cell::Text(format!("Category {c}"))])
                .collect(),
        }
    }

    /// The rows each table must hold after the workload is written, computed without
    /// generating it.
    pub fn expected_rows(&self) -> BTreeMap<&'static str, u64> {
        let n = self.authors;
        let posts = n * POSTS_PER_AUTHOR;
        let mut tag_seen = [false; TAG_POOL as usize];
        let mut tags = 0;
        for p in 1..=posts {
            for t in tag_ids(p) {
                let seen = &mut tag_seen[(t - 1) as usize];
                if !*seen {
                    *seen = true;
                    tags += 1;
                }
            }
            if tags == TAG_POOL {
                break;
            }
        }
        BTreeMap::from([
            ("authors", n),
            ("profiles", n),
            ("posts", posts),
            ("comments", posts * COMMENTS_PER_POST),
            ("tags", tags),
            ("posts_tags", posts * TAGS_PER_POST),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_quote_text_and_json_and_leave_null_empty() {
        let json = RawValue::from_string(r#"{"a":"b"}"#.to_string());
        let Ok(json) = json else { panic!("valid JSON") };
        let cells = [
            Cell::Int(-7),
            Cell::Text("say \"hi\", then go".into()),
            Cell::Json(json),
            Cell::NullTimestamp,
        ];
        let fields: Vec<String> = cells.iter().map(Cell::to_csv).collect();
        assert_eq!(
            fields,
            ["-7", r#""say ""hi"", then go""#, r#""{""a"":""b""}""#, ""]
        );
    }

    #[test]
    fn reference_size_is_841_000_rows() {
        let expected = Workload { authors: 20_000 }.expected_rows();
        assert_eq!(expected.values().sum::<u64>(), 841_000);
        assert_eq!(expected["tags"], 1_000);
        assert_eq!(expected["posts_tags"], 300_000);
    }

    #[test]
    fn flatten_matches_the_expected_counts_and_the_items() {
        for authors in [1, 7, 250] {
            let w = Workload { authors };
            let tables = w.flatten();
            let expected = w.expected_rows();
            for t in &tables {
                assert_eq!(t.rows.len() as u64, expected[t.def.name], "{}", t.def.name);
                assert!(t.rows.iter().all(|r| r.len() == t.def.columns.len()));
            }
            assert_eq!(w.items().count() as u64, authors);
        }
    }

    #[test]
    fn tags_of_a_post_are_distinct_and_in_the_pool() {
        for p in 1..5_000 {
            let t = tag_ids(p);
            assert!(t[0] != t[1] && t[1] != t[2] && t[0] != t[2]);
            assert!(t.iter().all(|&x| (1..=TAG_POOL).contains(&x)));
        }
    }

    #[test]
    fn items_are_deterministic_and_shaped_as_spec_8() {
        let a: Vec<J> = Workload { authors: 3 }.items().collect();
        let b: Vec<J> = Workload { authors: 3 }.items().collect();
        assert_eq!(a, b);
        assert_eq!(a[1]["posts"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            a[1]["posts"][0]["comments"][3]["post_id"],
            a[1]["posts"][0]["id"]
        );
        assert_eq!(a[2]["social_links"].as_array().map(Vec::len), Some(2));
        assert_eq!(a[0]["profile"]["author_id"], 1);
    }
}
