//! Changes to the text of accounts.toml, made with `toml_edit` so that what
//! the administrator wrote around them (comments, blank lines, key order,
//! quoting, other accounts) comes out as it went in. Pure: text in, text
//! out; whether the result is a valid account set is checked by the caller
//! with the loader, before anything is written.

use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

/// What `add` or `set` changes in one account; `None` leaves a field as it is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Change {
    /// A password hash (never the password itself).
    pub password_hash: Option<String>,
    /// authorized_keys lines replacing the account's keys.
    pub keys: Option<Vec<String>>,
    /// The quota as the administrator wrote it (`"500 MiB"`), or `Some(None)`
    /// to remove it (no quota).
    pub quota: Option<Option<String>>,
    /// `max_files`, or `Some(None)` to remove it (no limit).
    pub max_files: Option<Option<u64>>,
    /// Program names replacing the account's `commands`.
    pub commands: Option<Vec<String>>,
    /// `readonly`.
    pub readonly: Option<bool>,
    /// `disabled`.
    pub disabled: Option<bool>,
}

impl Change {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Change::default()
    }
}

/// One edit of the file.
#[derive(Debug, Clone, Copy)]
pub enum Edit<'a> {
    /// A new `[users.NAME]` table at the end of the file.
    Add(&'a str, &'a Change),
    /// Fields of an existing account changed in place.
    Set(&'a str, &'a Change),
    /// The account's table taken out; comments that are not its own stay.
    Remove(&'a str),
}

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file is not TOML at all (the loader would say where).
    #[error("the file is not valid TOML: {0}")]
    Syntax(String),
    /// `users` is something other than a table.
    #[error("`users` is not a table of accounts")]
    UsersNotATable,
    /// `add` of an account that exists.
    #[error("account `{0}` already exists; change it with `sftpbox account set {0}`")]
    Exists(String),
    /// `set` or `remove` of an account that does not exist.
    #[error("there is no account `{0}`")]
    Missing(String),
}

/// Applies `edit` to the accounts file `text` and returns the new text.
pub fn apply(text: &str, edit: Edit<'_>) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|err: toml_edit::TomlError| EditError::Syntax(err.message().to_owned()))?;
    match edit {
        Edit::Add(name, change) => add(&mut doc, name, change)?,
        Edit::Set(name, change) => {
            let account = users(&mut doc)?
                .get_mut(name)
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| EditError::Missing(name.to_owned()))?;
            set_fields(account, change);
        }
        Edit::Remove(name) => remove(&mut doc, name)?,
    }
    Ok(doc.to_string())
}

/// The `users` table, created (implicit: no `[users]` header of its own)
/// when the file has none yet.
fn users(doc: &mut DocumentMut) -> Result<&mut Table, EditError> {
    let item = doc.as_table_mut().entry("users").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    item.as_table_mut().ok_or(EditError::UsersNotATable)
}

fn add(doc: &mut DocumentMut, name: &str, change: &Change) -> Result<(), EditError> {
    let last = last_position(doc.as_table());
    // Comments at the end of the file would print after the new table:
    // they go above it instead, so it comes after everything there is.
    let trailing = doc
        .trailing()
        .as_str()
        .unwrap_or_default()
        .trim_end()
        .to_owned();
    let users = users(doc)?;
    if users.contains_key(name) {
        return Err(EditError::Exists(name.to_owned()));
    }
    let mut table = Table::new();
    set_fields(&mut table, change);
    table.set_position(Some(last.saturating_add(1)));
    let prefix = match (last == isize::MIN, trailing.is_empty()) {
        (true, true) => String::new(),
        (false, true) => "\n".to_owned(),
        (_, false) => format!("{trailing}\n\n"),
    };
    table.decor_mut().set_prefix(prefix);
    users.insert(name, Item::Table(table));
    doc.set_trailing("");
    Ok(())
}

/// The highest document position of any table under `table`
/// (`isize::MIN` when there is none).
fn last_position(table: &Table) -> isize {
    let mut last = table.position().unwrap_or(isize::MIN);
    for (_, item) in table.iter() {
        if let Item::Table(sub) = item {
            last = last.max(last_position(sub));
        }
    }
    last
}

fn remove(doc: &mut DocumentMut, name: &str) -> Result<(), EditError> {
    let users = users(doc)?;
    let Some(removed) = users.remove(name) else {
        return Err(EditError::Missing(name.to_owned()));
    };
    let Item::Table(removed) = removed else {
        // An inline `name = { ... }` has no comment block of its own above it.
        return Ok(());
    };
    // The comment lines right above the header belong to the account and
    // go with it; what is separated from the header by a blank line (such
    // as the file's own header comment) stays, above whatever follows.
    let prefix = removed
        .decor()
        .prefix()
        .and_then(|raw| raw.as_str())
        .unwrap_or_default();
    let kept = kept_part(prefix).trim_end();
    if kept.is_empty() {
        return Ok(());
    }
    let kept = format!("{kept}\n");
    let after = removed.position();
    let next = users
        .iter_mut()
        .filter_map(|(_, item)| item.as_table_mut())
        .filter(|table| table.position() > after)
        .min_by_key(|table| table.position());
    match next {
        Some(next) => {
            let old = next
                .decor()
                .prefix()
                .and_then(|raw| raw.as_str())
                .unwrap_or_default()
                .to_owned();
            // One blank line between the kept comment and what follows.
            let gap = if old.starts_with('\n') { "" } else { "\n" };
            next.decor_mut().set_prefix(format!("{kept}{gap}{old}"));
        }
        None => {
            let trailing = doc.trailing().as_str().unwrap_or_default().to_owned();
            doc.set_trailing(format!("{kept}{trailing}"));
        }
    }
    Ok(())
}

/// The part of a table's prefix that is not the table's own comment: all
/// of it up to and including its last blank line.
fn kept_part(prefix: &str) -> &str {
    let mut end = 0;
    let mut start = 0;
    for line in prefix.split_inclusive('\n') {
        let line_end = start + line.len();
        if line.trim().is_empty() {
            end = line_end;
        }
        start = line_end;
    }
    prefix.get(..end).unwrap_or_default()
}

/// Writes the fields `change` names into `account`, in place: a field that
/// exists keeps its place and the comment after it.
fn set_fields(account: &mut dyn TableLike, change: &Change) {
    if let Some(hash) = &change.password_hash {
        put(account, "password", Value::from(hash.as_str()));
    }
    if let Some(keys) = &change.keys {
        put(account, "keys", string_array(keys));
    }
    match &change.quota {
        Some(Some(quota)) => put(account, "quota", Value::from(quota.as_str())),
        Some(None) => {
            account.remove("quota");
        }
        None => {}
    }
    match change.max_files {
        Some(Some(max)) => {
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            put(account, "max_files", Value::from(max));
        }
        Some(None) => {
            account.remove("max_files");
        }
        None => {}
    }
    if let Some(commands) = &change.commands {
        put(account, "commands", string_array(commands));
    }
    if let Some(readonly) = change.readonly {
        put_flag(account, "readonly", readonly);
    }
    if let Some(disabled) = change.disabled {
        put_flag(account, "disabled", disabled);
    }
}

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(String::as_str).collect::<Array>())
}

/// Sets `key` to `value`, keeping the spacing and comment of the value it
/// replaces.
fn put(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(other) => *other = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// A flag that defaults to false: written when true, set to false where
/// the file already names it, left out otherwise.
fn put_flag(table: &mut dyn TableLike, key: &str, on: bool) {
    if on || table.contains_key(key) {
        put(table, key, Value::from(on));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# accounts of the test box
# (the header comment)

# alice is the first account
[users.alice]
password = \"$argon2id$old\"   # set last spring
quota = \"1 GiB\"

# bob has a key only
[users.bob]
keys = [\"ssh-ed25519 AAAA bob\"]
";

    fn quota(q: &str) -> Change {
        Change {
            quota: Some(Some(q.to_owned())),
            ..Change::default()
        }
    }

    #[test]
    fn max_files_is_set_in_place_and_removed() {
        let limit = |max| Change {
            max_files: Some(max),
            ..Change::default()
        };
        let set = apply(FILE, Edit::Set("alice", &limit(Some(500)))).unwrap();
        assert!(
            set.contains("quota = \"1 GiB\"\nmax_files = 500\n"),
            "{set}"
        );
        let again = apply(&set, Edit::Set("alice", &limit(Some(7)))).unwrap();
        assert_eq!(again, set.replace("max_files = 500", "max_files = 7"));
        let removed = apply(&again, Edit::Set("alice", &limit(None))).unwrap();
        assert_eq!(removed, FILE);
    }

    #[test]
    fn set_changes_one_value_and_nothing_else() {
        let out = apply(FILE, Edit::Set("alice", &quota("2 GiB"))).unwrap();
        assert_eq!(out, FILE.replace("\"1 GiB\"", "\"2 GiB\""));
    }

    #[test]
    fn set_keeps_the_comment_after_a_replaced_value() {
        let change = Change {
            password_hash: Some("$argon2id$new".to_owned()),
            ..Change::default()
        };
        let out = apply(FILE, Edit::Set("alice", &change)).unwrap();
        assert!(out.contains("password = \"$argon2id$new\"   # set last spring\n"));
    }

    #[test]
    fn add_appends_a_table_after_everything() {
        let change = Change {
            password_hash: Some("$argon2id$c".to_owned()),
            readonly: Some(true),
            disabled: Some(false),
            ..Change::default()
        };
        let out = apply(FILE, Edit::Add("carol", &change)).unwrap();
        assert_eq!(
            out,
            format!("{FILE}\n[users.carol]\npassword = \"$argon2id$c\"\nreadonly = true\n")
        );
    }

    #[test]
    fn add_to_an_empty_file_makes_the_users_table() {
        let out = apply("", Edit::Add("dave", &quota("1 MiB"))).unwrap();
        assert_eq!(out, "[users.dave]\nquota = \"1 MiB\"\n");
        let out = apply("# only a comment\n", Edit::Add("dave", &quota("1 MiB"))).unwrap();
        assert_eq!(out, "# only a comment\n\n[users.dave]\nquota = \"1 MiB\"\n");
    }

    #[test]
    fn add_goes_after_a_comment_at_the_end_of_the_file() {
        let file = "[users.a]\nquota = 1\n\n# [users.old] was removed\n";
        let out = apply(file, Edit::Add("b", &quota("2"))).unwrap();
        assert_eq!(
            out,
            "[users.a]\nquota = 1\n\n# [users.old] was removed\n\n[users.b]\nquota = \"2\"\n"
        );
    }

    #[test]
    fn add_refuses_an_existing_account_and_set_a_missing_one() {
        assert_eq!(
            apply(FILE, Edit::Add("bob", &Change::default())),
            Err(EditError::Exists("bob".to_owned()))
        );
        assert_eq!(
            apply(FILE, Edit::Set("zed", &quota("1"))),
            Err(EditError::Missing("zed".to_owned()))
        );
        assert_eq!(
            apply(FILE, Edit::Remove("zed")),
            Err(EditError::Missing("zed".to_owned()))
        );
    }

    #[test]
    fn remove_takes_the_account_and_its_own_comment_but_not_the_header() {
        let out = apply(FILE, Edit::Remove("alice")).unwrap();
        assert_eq!(
            out,
            "\
# accounts of the test box
# (the header comment)

# bob has a key only
[users.bob]
keys = [\"ssh-ed25519 AAAA bob\"]
"
        );
        let out = apply(FILE, Edit::Remove("bob")).unwrap();
        assert!(out.starts_with("# accounts of the test box\n"));
        assert!(out.contains("[users.alice]"));
        assert!(!out.contains("bob"));
        let three = format!("{FILE}\n# carol\n[users.carol]\nquota = 1\n");
        let out = apply(&three, Edit::Remove("alice")).unwrap();
        assert!(
            out.starts_with("# accounts of the test box\n# (the header comment)\n\n# bob has"),
            "{out}"
        );
    }

    #[test]
    fn removing_the_last_account_keeps_the_header_comment() {
        let file = "# header\n\n# demo\n[users.demo]\nquota = 1\n";
        assert_eq!(apply(file, Edit::Remove("demo")).unwrap(), "# header\n");
    }

    #[test]
    fn clearing_flags_and_the_quota_edits_only_what_is_there() {
        let file = "[users.a]\nreadonly = true\nquota = 5\n";
        let change = Change {
            readonly: Some(false),
            disabled: Some(false),
            quota: Some(None),
            ..Change::default()
        };
        assert_eq!(
            apply(file, Edit::Set("a", &change)).unwrap(),
            "[users.a]\nreadonly = false\n"
        );
    }

    #[test]
    fn inline_accounts_are_edited_too() {
        let file = "[users]\nzoe = { quota = 1 }\n";
        let out = apply(file, Edit::Set("zoe", &quota("2 KiB"))).unwrap();
        assert_eq!(out, "[users]\nzoe = { quota = \"2 KiB\" }\n");
        assert_eq!(apply(file, Edit::Remove("zoe")).unwrap(), "[users]\n");
    }

    #[test]
    fn the_kept_part_of_a_prefix_ends_at_its_last_blank_line() {
        assert_eq!(kept_part("# a\n\n# b\n"), "# a\n\n");
        assert_eq!(kept_part("# b\n"), "");
        assert_eq!(kept_part("\n"), "\n");
        assert_eq!(kept_part(""), "");
    }
}
