//! Maps between positions in the TOML text and key paths such as `repos[1].tier`, so every
//! error can name both the line and the key.

use std::fmt::Write;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A dotted key path into the document, e.g. `vendors[0].attestations.baa`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> KeyPath {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_string()));
        next
    }

    pub fn index(&self, index: usize) -> KeyPath {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Key(key) if out.is_empty() => out.push_str(key),
                Segment::Key(key) => {
                    let _ = write!(out, ".{key}");
                }
                Segment::Index(index) => {
                    let _ = write!(out, "[{index}]");
                }
            }
        }
        f.write_str(&out)
    }
}

/// The span of the key (or, for an array element, the value) that `path` names, or of
/// its nearest existing ancestor when the key is absent.
pub fn span_of(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<Range<usize>> {
    let mut best = None;
    let mut table = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for segment in &path.0 {
        let value = match (segment, table, array) {
            (Segment::Key(key), Some(t), _) => {
                let Some((k, v)) = t.get_key_value(key.as_str()) else {
                    break;
                };
                best = Some(k.span());
                v
            }
            (Segment::Index(i), _, Some(items)) => {
                let Some(v) = items.get(*i) else {
                    break;
                };
                best = Some(v.span());
                v
            }
            _ => break,
        };
        table = value.get_ref().as_table();
        array = value.get_ref().as_array().map(|a| &a[..]);
    }
    best
}

/// The text of one `key = value` entry (from the key to the end of its value), when the
/// path ends in a key whose value is not a table (a section's span is only its header).
pub fn entry_span(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<Range<usize>> {
    let (last, parent) = path.0.split_last()?;
    let Segment::Key(name) = last else {
        return None;
    };
    let mut table = root.get_ref();
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for segment in parent {
        let value = match (segment, array) {
            (Segment::Key(key), None) => table.get(key.as_str())?,
            (Segment::Index(i), Some(items)) => items.get(*i)?,
            _ => return None,
        };
        match value.get_ref() {
            DeValue::Table(inner) => {
                table = inner;
                array = None;
            }
            DeValue::Array(items) => array = Some(&items[..]),
            _ => return None,
        }
    }
    if array.is_some() {
        return None;
    }
    let (key, value) = table.get_key_value(name.as_str())?;
    if value.get_ref().as_table().is_some() {
        return None;
    }
    let (start, end) = (key.span().start, value.span().end);
    (start < end).then_some(start..end)
}

/// The deepest key path whose key or value contains `offset`. Table spans do not always
/// cover their bodies (a `[section]` header's span is the header), so every branch is
/// searched rather than only the ones whose span contains the offset.
pub fn path_at(root: &Spanned<DeTable<'_>>, offset: usize) -> KeyPath {
    find_in_table(root.get_ref(), offset, &KeyPath::root()).unwrap_or_default()
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &KeyPath) -> Option<KeyPath> {
    for (key, value) in table.iter() {
        let here = path.key(key.get_ref());
        if let Some(deeper) = find_in_value(value.get_ref(), offset, &here) {
            return Some(deeper);
        }
        if contains(&key.span(), offset) || contains(&value.span(), offset) {
            return Some(here);
        }
    }
    None
}

fn find_in_value(value: &DeValue<'_>, offset: usize, path: &KeyPath) -> Option<KeyPath> {
    match value {
        DeValue::Table(table) => find_in_table(table, offset, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            let here = path.index(index);
            find_in_value(item.get_ref(), offset, &here)
                .or_else(|| contains(&item.span(), offset).then_some(here))
        }),
        _ => None,
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// 1-based line and column of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Every string value in the document with its path, for checks that look at values
/// regardless of where they sit (secrets written in clear).
pub fn string_values<'a>(root: &'a Spanned<DeTable<'a>>) -> Vec<(KeyPath, &'a str)> {
    fn walk<'a>(value: &'a DeValue<'a>, path: KeyPath, out: &mut Vec<(KeyPath, &'a str)>) {
        match value {
            DeValue::String(text) => out.push((path, text.as_ref())),
            DeValue::Table(table) => {
                for (key, value) in table.iter() {
                    walk(value.get_ref(), path.key(key.get_ref()), out);
                }
            }
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item.get_ref(), path.index(index), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, value) in root.get_ref().iter() {
        walk(
            value.get_ref(),
            KeyPath::root().key(key.get_ref()),
            &mut out,
        );
    }
    out
}
