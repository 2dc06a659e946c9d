//! The two dialect files of the schema declare the same tables, columns and indexes.

use std::collections::BTreeMap;

/// Table -> column names, and the index names, of a migration file.
fn shape(sql: &str) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut tables = BTreeMap::new();
    let mut indexes = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in sql.lines().map(str::trim) {
        if line.starts_with("--") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            let name = rest.split_whitespace().next().unwrap().to_owned();
            current = Some((name, Vec::new()));
        } else if let Some(rest) = line.strip_prefix("CREATE INDEX ") {
            indexes.push(rest.split_whitespace().next().unwrap().to_owned());
        } else if line.starts_with(");") {
            let (name, columns) = current.take().unwrap();
            tables.insert(name, columns);
        } else if let Some((_, columns)) = current.as_mut() {
            let first = line.split_whitespace().next().unwrap();
            if !matches!(
                first,
                "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "CONSTRAINT"
            ) {
                columns.push(first.to_owned());
            }
        }
    }
    (tables, indexes)
}

#[test]
fn both_dialects_declare_the_same_schema() {
    let sqlite = shape(include_str!("../migrations/sqlite/0001_vault.sql"));
    let postgres = shape(include_str!("../migrations/postgres/0001_vault.sql"));
    assert_eq!(sqlite, postgres);
    assert_eq!(
        sqlite.0.keys().collect::<Vec<_>>(),
        [
            "audit",
            "certificates",
            "grants",
            "kek_checks",
            "principals",
            "sealed_keys",
            "tokens"
        ]
    );
    assert_eq!(sqlite.0["sealed_keys"].len(), 8);
}
