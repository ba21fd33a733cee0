//! The matcher of returned keys: returned rows in any order, duplicates, nulls, values the
//! database gives back in another form, and mismatches.

use super::*;
use pretty_assertions::assert_eq;

fn column(name: &str, ty: FieldType) -> Column {
    Column {
        name: name.into(),
        ty,
        shared: false,
    }
}

/// `id` (generated), `author_id`, `title`, `score` (a float: not compared).
fn columns() -> Vec<Column> {
    vec![
        column("id", FieldType::Id),
        column("author_id", FieldType::Id),
        column("title", FieldType::String),
        column("score", FieldType::Float),
    ]
}

fn row(author: Option<i64>, title: Option<&str>, score: f64, slot: u32) -> (Vec<Value>, u32) {
    (
        vec![
            Value::Null,
            author.map_or(Value::Null, Value::Int),
            title.map_or(Value::Null, |t| Value::String(t.into())),
            Value::Float(score),
        ],
        slot,
    )
}

/// A returned row: the key, then `author_id` and `title` as the database returns them.
fn back(key: i64, author: J, title: Option<&str>) -> (Value, Vec<Value>) {
    (
        Value::Int(key),
        vec![
            returned_value(&FieldType::Id, &author),
            title.map_or(Value::Null, |t| Value::String(t.into())),
        ],
    )
}

fn insert_identity() -> Identity {
    Identity::new(&columns(), 0, None)
}

/// The statement rounds an insert's rows get.
fn rounds(rows: &[(Vec<Value>, u32)]) -> Vec<usize> {
    let id = insert_identity();
    let keys: Vec<Vec<KeyPart>> = rows.iter().map(|(row, _)| id.key(row)).collect();
    id.rounds(rows, &keys)
}

/// The slots and keys an insert's matcher gives `rows`, in slot order.
fn assign(
    rows: &[(Vec<Value>, u32)],
    returned: Vec<(Value, Vec<Value>)>,
) -> Option<Vec<(u32, Value)>> {
    let id = insert_identity();
    let keys: Vec<Vec<KeyPart>> = rows.iter().map(|(row, _)| id.key(row)).collect();
    let written: Vec<(&[KeyPart], u32)> = keys
        .iter()
        .zip(rows)
        .map(|(k, (_, slot))| (k.as_slice(), *slot))
        .collect();
    let mut v = id.assign(&written, returned)?;
    v.sort_by_key(|(slot, _)| *slot);
    Some(v)
}

#[test]
fn an_insert_compares_every_written_column_but_the_key_and_loose_types() {
    let id = insert_identity();
    let compared: Vec<usize> = id.compared.iter().map(|(c, _, _)| *c).collect();
    assert_eq!(compared, vec![1, 2]);
    assert_eq!(id.loose, vec![3]);
}

#[test]
fn an_upsert_compares_its_conflict_target_only() {
    let id = Identity::new(&columns(), 0, Some(&[2]));
    let compared: Vec<usize> = id.compared.iter().map(|(c, _, _)| *c).collect();
    assert_eq!((compared, id.loose), (vec![2], vec![]));
}

#[test]
fn placeholder_columns_are_not_compared() {
    let mut cols = columns();
    cols[1].shared = true;
    let id = Identity::new(&cols, 0, None);
    let compared: Vec<usize> = id.compared.iter().map(|(c, _, _)| *c).collect();
    assert_eq!(compared, vec![2]);
}

#[test]
fn returned_rows_in_another_order_get_the_keys_of_their_own_rows() {
    let rows = [
        row(Some(1), Some("a"), 0.0, 10),
        row(Some(1), Some("b"), 0.0, 11),
        row(Some(2), Some("a"), 0.0, 12),
    ];
    // Returned backwards, the author ids as text (a NUMERIC column, a driver's choice).
    let returned = vec![
        back(300, J::from("2"), Some("a")),
        back(200, J::from(1), Some("b")),
        back(100, J::from(1), Some("a")),
    ];
    let assigned = assign(&rows, returned).unwrap();
    assert_eq!(
        assigned,
        vec![
            (10, Value::Int(100)),
            (11, Value::Int(200)),
            (12, Value::Int(300))
        ]
    );
}

#[test]
fn every_permutation_of_the_returned_rows_gives_the_same_assignment() {
    let rows: Vec<_> = (0..4)
        .map(|i| row(Some(i), Some(&format!("t{i}")), 0.0, i as u32))
        .collect();
    let expected: Vec<(u32, Value)> = (0..4).map(|i| (i as u32, Value::Int(100 + i))).collect();
    let mut order: Vec<i64> = (0..4).collect();
    // Heap's algorithm: all 24 orders.
    fn permute(k: usize, order: &mut Vec<i64>, out: &mut Vec<Vec<i64>>) {
        if k == 1 {
            out.push(order.clone());
            return;
        }
        for i in 0..k {
            permute(k - 1, order, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            order.swap(j, k - 1);
        }
    }
    let mut all = Vec::new();
    permute(4, &mut order, &mut all);
    assert_eq!(all.len(), 24);
    for perm in all {
        let returned = perm
            .iter()
            .map(|&i| back(100 + i, J::from(i), Some(&format!("t{i}"))))
            .collect();
        let assigned = assign(&rows, returned).unwrap();
        assert_eq!(assigned, expected, "returned in the order {perm:?}");
    }
}

#[test]
fn identical_rows_each_get_one_of_their_keys() {
    let rows = [
        row(Some(1), Some("same"), 0.5, 0),
        row(Some(1), Some("same"), 0.5, 1),
        row(Some(1), Some("other"), 0.5, 2),
    ];
    let returned = vec![
        back(7, J::from(1), Some("same")),
        back(8, J::from(1), Some("other")),
        back(9, J::from(1), Some("same")),
    ];
    let assigned = assign(&rows, returned).unwrap();
    assert_eq!(assigned[2], (2, Value::Int(8)));
    let mut same: Vec<Value> = vec![assigned[0].1.clone(), assigned[1].1.clone()];
    same.sort_by_key(|v| v.to_json().as_i64());
    assert_eq!(
        same,
        vec![Value::Int(7), Value::Int(9)],
        "two keys, one each"
    );
}

#[test]
fn nulls_match_nulls_and_never_a_value() {
    let rows = [row(None, Some(""), 0.0, 0), row(Some(1), None, 0.0, 1)];
    let returned = vec![back(2, J::from(1), None), back(1, J::Null, Some(""))];
    let assigned = assign(&rows, returned).unwrap();
    assert_eq!(assigned, vec![(0, Value::Int(1)), (1, Value::Int(2))]);
    // A NULL title does not match the empty string.
    let returned = vec![back(2, J::from(1), None), back(1, J::Null, None)];
    assert_eq!(assign(&rows, returned), None);
}

#[test]
fn a_returned_row_that_matches_no_written_row_is_a_mismatch() {
    let rows = [row(Some(1), Some("abcdef"), 0.0, 0)];
    // MySQL without strict mode truncates a string that is too long; a trigger may rewrite it.
    let returned = vec![back(1, J::from(1), Some("abc"))];
    assert_eq!(assign(&rows, returned), None);
}

#[test]
fn a_written_row_whose_key_does_not_come_back_is_a_mismatch() {
    let rows = [
        row(Some(1), Some("a"), 0.0, 0),
        row(Some(1), Some("b"), 0.0, 1),
    ];
    let returned = vec![back(1, J::from(1), Some("b"))];
    assert_eq!(assign(&rows, returned), None);
    // One row returned twice is no better.
    let returned = vec![
        back(1, J::from(1), Some("a")),
        back(2, J::from(1), Some("a")),
    ];
    assert_eq!(assign(&rows, returned), None);
}

#[test]
fn a_null_key_is_a_mismatch() {
    let rows = [row(Some(1), Some("a"), 0.0, 0)];
    let (_, values) = back(0, J::from(1), Some("a"));
    assert_eq!(assign(&rows, vec![(Value::Null, values)]), None);
}

#[test]
fn values_the_database_returns_in_its_own_form_still_match() {
    let cols = vec![
        column("id", FieldType::Id),
        column("code", FieldType::String),
        column("active", FieldType::Boolean),
        column("ref", FieldType::BinaryId),
    ];
    let id = Identity::new(&cols, 0, None);
    let uuid = uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    let rows = [(
        vec![
            Value::Null,
            Value::String("ab".into()),
            Value::Bool(true),
            Value::Uuid(uuid),
        ],
        0,
    )];
    let key = id.key(&rows[0].0);
    let written = [(key.as_slice(), 0)];
    // CHAR(4) padding, a TINYINT(1), an upper-case UUID in a CHAR(36) column.
    let returned = vec![(
        Value::Int(5),
        vec![
            Value::String("ab  ".into()),
            returned_value(&FieldType::Boolean, &J::from(1)),
            returned_value(
                &FieldType::BinaryId,
                &J::from("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            ),
        ],
    )];
    assert_eq!(
        id.assign(&written, returned),
        Some(vec![(0, Value::Int(5))])
    );
}

#[test]
fn rows_alike_in_the_compared_columns_but_not_in_a_loose_one_are_written_apart() {
    let rows = [
        row(Some(1), Some("a"), 0.1, 0),
        row(Some(1), Some("a"), 0.2, 1),
        row(Some(1), Some("a"), 0.1, 2),
        row(Some(1), Some("b"), 0.3, 3),
        row(Some(1), Some("a"), 0.3, 4),
    ];
    // Identical rows share a statement; the others each get the next one.
    assert_eq!(rounds(&rows), vec![0, 1, 0, 0, 2]);
}

#[test]
fn rows_that_differ_only_in_trailing_spaces_are_written_apart() {
    let rows = [
        row(Some(1), Some("a"), 0.0, 0),
        row(Some(1), Some("a "), 0.0, 1),
    ];
    assert_eq!(rounds(&rows), vec![0, 1]);
}

#[test]
fn distinct_rows_are_all_written_in_the_first_statement_round() {
    let rows: Vec<_> = (0..100)
        .map(|i| {
            row(
                Some(i % 7),
                Some(&format!("t{}", i / 7)),
                i as f64,
                i as u32,
            )
        })
        .collect();
    assert!(rounds(&rows).iter().all(|&r| r == 0));
}
