//! What changed between two versions of the policy, statement by statement, in the
//! words of each version.

use super::{Document, Statement};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A statement only the newer version makes.
    Added {
        section: String,
        statement: Statement,
    },
    /// A statement only the older version makes.
    Removed {
        section: String,
        statement: Statement,
    },
    /// The same key, said differently.
    Changed {
        section: String,
        key: String,
        before: String,
        after: String,
    },
}

/// Statements by key (and, for a key said twice, its occurrence), with their section.
fn by_key(document: &Document) -> BTreeMap<(String, usize), (&'static str, &Statement)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for section in &document.sections {
        for statement in &section.statements {
            let n = seen.entry(statement.key.as_str()).or_default();
            out.insert((statement.key.clone(), *n), (section.title, statement));
            *n += 1;
        }
    }
    out
}

/// The changes from `before` to `after`: removals first, then additions and changes in
/// `after`'s order.
pub fn diff(before: &Document, after: &Document) -> Vec<Change> {
    let old = by_key(before);
    let new = by_key(after);
    let mut changes = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for section in &before.sections {
        for statement in &section.statements {
            let n = seen.entry(statement.key.as_str()).or_default();
            if !new.contains_key(&(statement.key.clone(), *n)) {
                changes.push(Change::Removed {
                    section: section.title.to_string(),
                    statement: statement.clone(),
                });
            }
            *n += 1;
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for section in &after.sections {
        for statement in &section.statements {
            let n = seen.entry(statement.key.as_str()).or_default();
            let place = (statement.key.clone(), *n);
            *n += 1;
            match old.get(&place) {
                None => changes.push(Change::Added {
                    section: section.title.to_string(),
                    statement: statement.clone(),
                }),
                Some((_, was)) if was.text != statement.text => changes.push(Change::Changed {
                    section: section.title.to_string(),
                    key: statement.key.clone(),
                    before: was.text.clone(),
                    after: statement.text.clone(),
                }),
                Some(_) => {}
            }
        }
    }
    changes
}
