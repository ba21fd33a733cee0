//! Names: schema and association names made from table and column names.

use std::collections::BTreeSet;

/// The first free candidate (or the first with the lowest free numeric suffix), now taken.
pub(super) fn claim(taken: &mut BTreeSet<String>, candidates: &[String]) -> String {
    let name = candidates
        .iter()
        .find(|c| !c.is_empty() && !taken.contains(*c))
        .cloned()
        .unwrap_or_else(|| {
            let base = candidates
                .iter()
                .find(|c| !c.is_empty())
                .cloned()
                .unwrap_or_else(|| "assoc".to_string());
            (2..)
                .map(|n| format!("{base}_{n}"))
                .find(|c| !taken.contains(c))
                .unwrap_or(base)
        });
    taken.insert(name.clone());
    name
}

/// `blog_posts` → `blog_post`: the last `_`-separated word made singular.
pub(super) fn singular_table(table: &str) -> String {
    match table.rsplit_once('_') {
        Some((head, last)) if !last.is_empty() => format!("{head}_{}", singular(last)),
        _ => singular(table),
    }
}

/// An English singular, good enough for table names (`categories` → `category`,
/// `addresses` → `address`, `people` → `person`); words it does not know stay as they are.
pub(super) fn singular(word: &str) -> String {
    const IRREGULAR: &[(&str, &str)] = &[
        ("people", "person"),
        ("men", "man"),
        ("women", "woman"),
        ("children", "child"),
        ("mice", "mouse"),
        ("geese", "goose"),
        ("teeth", "tooth"),
        ("feet", "foot"),
        ("movies", "movie"),
        ("cookies", "cookie"),
        ("series", "series"),
        ("species", "species"),
        ("news", "news"),
        ("statuses", "status"),
        ("aliases", "alias"),
        ("indices", "index"),
        ("matrices", "matrix"),
        ("vertices", "vertex"),
        ("analyses", "analysis"),
        ("quizzes", "quiz"),
    ];
    let lower = word.to_lowercase();
    if let Some((_, one)) = IRREGULAR.iter().find(|(many, _)| *many == lower) {
        // Keep the word's own first letter case.
        let mut chars = one.chars();
        return match (word.chars().next(), chars.next()) {
            (Some(f), Some(o)) if f.is_uppercase() => {
                o.to_uppercase().chain(chars).collect::<String>()
            }
            _ => (*one).to_string(),
        };
    }
    let cut = |n: usize, add: &str| format!("{}{add}", &word[..word.len() - n]);
    if lower.len() > 4 && lower.ends_with("ies") {
        cut(3, if word.ends_with("IES") { "Y" } else { "y" })
    } else if lower.ends_with("sses")
        || lower.ends_with("xes")
        || lower.ends_with("ches")
        || lower.ends_with("shes")
        || lower.ends_with("zzes")
    {
        cut(2, "")
    } else if lower.len() > 1
        && lower.ends_with('s')
        && !lower.ends_with("ss")
        && !lower.ends_with("us")
        && !lower.ends_with("is")
    {
        cut(1, "")
    } else {
        word.to_string()
    }
}

/// An English plural, for association names made from a column (`followee` → `followees`).
pub(super) fn plural(word: &str) -> String {
    let lower = word.to_lowercase();
    let consonant_y = lower.ends_with('y')
        && !lower.ends_with("ay")
        && !lower.ends_with("ey")
        && !lower.ends_with("oy")
        && !lower.ends_with("uy");
    if consonant_y {
        format!("{}ies", &word[..word.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// `blog_post` → `BlogPost`: words split at anything not a letter or digit, each
/// capitalized; a name that would not start with a letter gets a `T`.
pub(super) fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'T');
    }
    out
}

/// `firstName` → `first_name`, `HTTPServer` → `http_server`, `first name` → `first_name`:
/// a valid column name, lowercase ASCII letters, digits and `_`. Words split at anything
/// not a letter or digit and before an uppercase letter that follows a lowercase one (or
/// that starts a word after an acronym); a name that would start with a digit gets a `_`;
/// an empty one is `field`.
pub(super) fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && i > 0 {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    let out = out
        .split('_')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() {
        "field".to_string()
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}
