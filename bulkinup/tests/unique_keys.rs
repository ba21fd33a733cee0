//! Upserts and unique keys besides the conflict target (README, "Databases"): a row that
//! would collide with a different row through such a key is a unique violation on every
//! database — MySQL/MariaDB's `ON DUPLICATE KEY UPDATE` included, which by itself would update
//! that other row — and nothing is changed; `any_unique_key` gives MySQL's behaviour there.

mod common;

use bulkinup::{ConflictAction, DbErrorKind, Error, Options, Registry};
use common::{Kind, TestDb};
use pretty_assertions::assert_eq;
use serde_json::{Map, Value as J, json};

on_every_database!(blog:
    a_profile_taking_another_profiles_author_id_is_a_unique_violation_and_changes_nothing,
    two_new_rows_with_the_same_second_key_in_one_call_are_a_unique_violation,
    reupserting_rows_by_their_primary_key_with_the_second_key_unchanged_updates_them,
    a_conflict_target_that_is_not_the_primary_key_updates_its_row_and_refuses_another_rows_primary_key,
    nothing_on_conflict_keeps_the_row_and_still_refuses_another_rows_second_key,
    a_null_conflict_target_never_matches_so_a_second_key_collision_is_a_unique_violation,
);

mod mariadb {
    use super::*;

    #[tokio::test]
    async fn the_error_names_the_key_its_columns_and_both_rows() {
        if let Some(t) = TestDb::blog(Kind::MySql).await {
            super::the_error_names_the_key_its_columns_and_both_rows(&t).await;
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn among_several_other_keys_the_error_names_the_one_that_collided() {
        if let Some(t) = TestDb::blog(Kind::MySql).await {
            super::among_several_other_keys_the_error_names_the_one_that_collided(&t).await;
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn any_unique_key_updates_the_row_the_second_key_matches() {
        if let Some(t) = TestDb::blog(Kind::MySql).await {
            super::any_unique_key_updates_the_row_the_second_key_matches(&t).await;
            t.cleanup().await;
        }
    }
}

/// Authors 1 and 2, each with its profile (profile `n` of author `n`).
async fn seed(t: &TestDb) {
    t.seed_two_profiles().await;
}

async fn profiles(t: &TestDb) -> Vec<Map<String, J>> {
    t.rows("SELECT id, author_id, bio FROM profiles ORDER BY id")
        .await
}

fn seeded_profiles() -> Vec<Map<String, J>> {
    [
        json!({"id": 1, "author_id": 1, "bio": "first"}),
        json!({"id": 2, "author_id": 2, "bio": "second"}),
    ]
    .into_iter()
    .map(|j| j.as_object().cloned().unwrap_or_default())
    .collect()
}

/// Upserts `rows` of the blog's `Profile` with `options`.
async fn upsert_profiles<const N: usize>(
    t: &TestDb,
    rows: [J; N],
    options: &Options,
) -> bulkinup::Result<bulkinup::Summary> {
    bulkinup::upsert(&t.db, &common::blog(), "Profile", rows, options).await
}

/// Upserts `rows` of `Account` ([`accounts`]) with `options`.
async fn upsert_accounts<const N: usize>(
    t: &TestDb,
    rows: [J; N],
    options: &Options,
) -> bulkinup::Result<bulkinup::Summary> {
    bulkinup::upsert(&t.db, &accounts(), "Account", rows, options).await
}

fn profile(id: i64, author_id: i64, bio: &str) -> J {
    json!({"id": id, "author_id": author_id, "bio": bio})
}

/// Asserts a unique violation writing `profiles` that names `author_id`.
fn assert_author_id_violation(result: bulkinup::Result<bulkinup::Summary>) {
    let e = result.expect_err("a unique violation");
    assert_eq!(e.db_kind(), Some(DbErrorKind::UniqueViolation), "{e}");
    assert_eq!(e.table(), Some("profiles"), "{e}");
    assert!(e.to_string().contains("author_id"), "{e}");
    assert_eq!(e.exit_code(), 1);
}

async fn a_profile_taking_another_profiles_author_id_is_a_unique_violation_and_changes_nothing(
    t: &TestDb,
) {
    seed(t).await;
    let r = upsert_profiles(
        t,
        [profile(2, 2, "kept"), profile(3, 1, "steals author 1")],
        &Options::default(),
    )
    .await;
    assert_author_id_violation(r);
    assert_eq!(profiles(t).await, seeded_profiles());
}

async fn two_new_rows_with_the_same_second_key_in_one_call_are_a_unique_violation(t: &TestDb) {
    seed(t).await;
    t.db.execute_script("INSERT INTO authors (id, name) VALUES (3, 'Cy')")
        .await
        .unwrap();
    let r = upsert_profiles(
        t,
        [profile(4, 3, "new"), profile(5, 3, "also author 3")],
        &Options::default(),
    )
    .await;
    assert_author_id_violation(r);
    assert_eq!(profiles(t).await, seeded_profiles());
}

async fn reupserting_rows_by_their_primary_key_with_the_second_key_unchanged_updates_them(
    t: &TestDb,
) {
    seed(t).await;
    let s = upsert_profiles(
        t,
        [profile(1, 1, "one"), profile(2, 2, "two")],
        &Options::default(),
    )
    .await
    .expect("no false positive");
    assert_eq!(s.written, 2);
    assert_eq!(
        t.column("SELECT bio FROM profiles ORDER BY id").await,
        vec![json!("one"), json!("two")]
    );
    // Through the nested shape too: the author and its profile again, and swapping nothing.
    let author = json!({"id": 1, "name": "Ann", "profile": profile(1, 1, "nested")});
    bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Author",
        [author],
        &Options::default(),
    )
    .await
    .expect("no false positive");
    assert_eq!(
        t.column("SELECT bio FROM profiles ORDER BY id").await,
        vec![json!("nested"), json!("two")]
    );
}

async fn a_conflict_target_that_is_not_the_primary_key_updates_its_row_and_refuses_another_rows_primary_key(
    t: &TestDb,
) {
    seed(t).await;
    let by_author = Options::default().conflict_target("Profile", ["author_id"]);
    upsert_profiles(t, [profile(1, 1, "by author")], &by_author)
        .await
        .expect("the row its conflict target names is updated");
    assert_eq!(
        t.column("SELECT bio FROM profiles ORDER BY id").await,
        vec![json!("by author"), json!("second")]
    );
    // A row for author 9 with the primary key of profile 2 (author 2's) collides through
    // the primary key, not through its conflict target.
    t.db.execute_script("INSERT INTO authors (id, name) VALUES (9, 'Di')")
        .await
        .unwrap();
    let r = upsert_profiles(t, [profile(2, 9, "takes profile 2's id")], &by_author).await;
    let e = r.expect_err("a unique violation");
    assert_eq!(e.db_kind(), Some(DbErrorKind::UniqueViolation), "{e}");
    assert_eq!(e.table(), Some("profiles"), "{e}");
    assert_eq!(
        t.column("SELECT bio FROM profiles ORDER BY id").await,
        vec![json!("by author"), json!("second")]
    );
}

async fn nothing_on_conflict_keeps_the_row_and_still_refuses_another_rows_second_key(t: &TestDb) {
    seed(t).await;
    let nothing = Options::default().on_conflict("Profile", ConflictAction::Nothing);
    upsert_profiles(t, [profile(1, 1, "ignored")], &nothing)
        .await
        .expect("a conflict by the primary key does nothing");
    assert_eq!(profiles(t).await, seeded_profiles());
    let r = upsert_profiles(t, [profile(3, 1, "steals author 1")], &nothing).await;
    assert_author_id_violation(r);
    assert_eq!(profiles(t).await, seeded_profiles());
}

/// `accounts`: a primary key, a nullable unique `code` (the conflict target) and a unique
/// `email`.
const ACCOUNTS_DDL: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, code VARCHAR(20) UNIQUE,
    email VARCHAR(100) NOT NULL UNIQUE, name VARCHAR(100));
    INSERT INTO accounts (id, code, email, name) VALUES (1, NULL, 'a@x', 'A'), (2, 'c2', 'b@x', 'B');";

fn accounts() -> Registry {
    Registry::from_toml_str(
        r#"
        [schemas.Account]
        source = "accounts"
        fields = { id = "integer", code = "string", email = "string", name = "string" }
        [schemas.Account.changesets.changeset]
        cast = ["id", "code", "email", "name"]
        required = ["id", "email"]
        "#,
        "accounts.toml",
    )
    .expect("the accounts schema loads")
    .registry
}

async fn account_rows(t: &TestDb) -> Vec<J> {
    t.rows("SELECT id, code, email, name FROM accounts ORDER BY id")
        .await
        .into_iter()
        .map(J::Object)
        .collect()
}

async fn a_null_conflict_target_never_matches_so_a_second_key_collision_is_a_unique_violation(
    t: &TestDb,
) {
    t.db.execute_script(ACCOUNTS_DDL).await.expect("accounts");
    let before = account_rows(t).await;
    let by_code = Options::default().conflict_target("Account", ["code"]);
    // Account 1's own row again, by a conflict target that is NULL: NULL never matches, so
    // it collides through the primary key and the email — other keys.
    let r = upsert_accounts(
        t,
        [json!({"id": 1, "code": null, "email": "a@x", "name": "renamed"})],
        &by_code,
    )
    .await;
    let e = r.expect_err("a unique violation");
    assert_eq!(e.db_kind(), Some(DbErrorKind::UniqueViolation), "{e}");
    assert_eq!(account_rows(t).await, before);
    // By a code that matches, the row is updated.
    upsert_accounts(
        t,
        [json!({"id": 2, "code": "c2", "email": "b@x", "name": "renamed"})],
        &by_code,
    )
    .await
    .expect("the row its code names is updated");
    assert_eq!(
        t.column("SELECT name FROM accounts ORDER BY id").await,
        vec![json!("A"), json!("renamed")]
    );
}

async fn the_error_names_the_key_its_columns_and_both_rows(t: &TestDb) {
    seed(t).await;
    let e = upsert_profiles(t, [profile(3, 1, "steals author 1")], &Options::default())
        .await
        .expect_err("a unique violation");
    let Error::Database { constraint, .. } = &e else {
        panic!("a database error, got {e}");
    };
    assert_eq!(constraint.as_deref(), Some("author_id"), "{e}");
    assert_eq!(
        e.to_string(),
        "database error writing table `profiles`, for the item (Profile, primary key 3): \
         duplicate entry: the row with id = 3 has \
         author_id = 1 of unique key `author_id` (author_id), as the existing row with id = 1 \
         has; an upsert updates only the row its conflict target (id) matches (option \
         `any_unique_key`, flag `--any-unique-key`: MySQL's update of whichever row a unique \
         key matches)"
    );
    // Two new rows of one call with the same second key: the later one is named.
    t.db.execute_script("INSERT INTO authors (id, name) VALUES (3, 'Cy')")
        .await
        .unwrap();
    let e = upsert_profiles(
        t,
        [profile(4, 3, "new"), profile(5, 3, "also author 3")],
        &Options::default(),
    )
    .await
    .expect_err("a unique violation");
    // The chunk written again item by item: profile 4 is accepted, profile 5 is the item
    // refused, colliding with profile 4 written just before it.
    assert_eq!(e.item().map(|i| &i.primary_key), Some(&json!(5)), "{e}");
    assert!(
        e.to_string().contains(
            "the row with id = 5 has author_id = 3 of unique key `author_id` (author_id), as \
             the existing row with id = 4 has"
        ),
        "{e}"
    );
    assert_eq!(profiles(t).await, seeded_profiles());
}

async fn among_several_other_keys_the_error_names_the_one_that_collided(t: &TestDb) {
    t.db.execute_script(ACCOUNTS_DDL).await.expect("accounts");
    let before = account_rows(t).await;
    let by_code = Options::default().conflict_target("Account", ["code"]);
    // A new code and id, but account 2's email.
    let e = upsert_accounts(
        t,
        [json!({"id": 7, "code": "c7", "email": "b@x", "name": "N"})],
        &by_code,
    )
    .await
    .expect_err("a unique violation");
    let Error::Database { constraint, .. } = &e else {
        panic!("a database error, got {e}");
    };
    assert_eq!(constraint.as_deref(), Some("email"), "{e}");
    assert!(
        e.to_string().contains(
            "the row with code = \"c7\" has email = \"b@x\" of unique key `email` (email), as \
             the existing row with code = \"c2\" has"
        ),
        "{e}"
    );
    assert_eq!(account_rows(t).await, before);
}

async fn any_unique_key_updates_the_row_the_second_key_matches(t: &TestDb) {
    seed(t).await;
    let s = upsert_profiles(
        t,
        [profile(3, 1, "steals author 1")],
        &Options::default().any_unique_key(true),
    )
    .await
    .expect("MySQL's own behaviour");
    assert_eq!(s.written, 1);
    // Profile 1 (author 1's) took the new row's values but its own id; no profile 3.
    assert_eq!(
        profiles(t).await,
        vec![
            profile(1, 1, "steals author 1")
                .as_object()
                .cloned()
                .unwrap_or_default(),
            seeded_profiles()[1].clone()
        ]
    );
}
