//! Questions asked of one repository graph: a symbol's members, callers and callees,
//! the use sites of a name. Names are resolved with the same scope heuristics as the
//! centrality graph (same file, imported files, then the repository if unambiguous).

use crate::graph::{RepoGraph, SymbolId};

/// Results per relation at most.
pub const MAX_RELATED: usize = 50;

/// A symbol elsewhere in the graph, by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolRef {
    pub path: String,
    pub index: u32,
}

impl RepoGraph {
    /// Symbols directly inside `(path, index)`.
    pub fn members(&self, path: &str, index: u32) -> Vec<u32> {
        self.files
            .get(path)
            .map(|file| {
                file.parsed
                    .symbols
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.parent == Some(index))
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the symbol's body calls, resolved to definitions.
    pub fn callees(&self, path: &str, index: u32) -> Vec<SymbolRef> {
        let Some(symbol) = self.symbol(path, index) else {
            return Vec::new();
        };
        let definitions = self.definitions();
        let mut out = Vec::new();
        for name in symbol.calls.iter() {
            for target in self.resolve(&definitions, path, name) {
                if (target.path, target.index) != (path, index) {
                    push_unique(&mut out, target);
                }
            }
            if out.len() >= MAX_RELATED {
                break;
            }
        }
        out
    }

    /// Symbols whose bodies call or mention this one, where the name resolves to it.
    pub fn callers(&self, path: &str, index: u32) -> Vec<SymbolRef> {
        let Some(symbol) = self.symbol(path, index) else {
            return Vec::new();
        };
        let definitions = self.definitions();
        let mut out = Vec::new();
        for (from_path, file) in &self.files {
            for (i, candidate) in file.parsed.symbols.iter().enumerate() {
                if (from_path.as_str(), i as u32) == (path, index)
                    || !candidate.references.contains(&symbol.name)
                {
                    continue;
                }
                let resolved = self.resolve(&definitions, from_path, &symbol.name);
                if resolved.iter().any(|t| t.path == path && t.index == index) {
                    out.push(SymbolRef {
                        path: from_path.clone(),
                        index: i as u32,
                    });
                    if out.len() >= MAX_RELATED {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// Every symbol (or file, with `None`) whose code uses `name`.
    pub fn use_sites(&self, name: &str) -> Vec<(String, Option<u32>)> {
        let mut out = Vec::new();
        for (path, file) in &self.files {
            if file.parsed.references.contains(name) {
                out.push((path.clone(), None));
            }
            for (i, symbol) in file.parsed.symbols.iter().enumerate() {
                if symbol.references.contains(name) {
                    out.push((path.clone(), Some(i as u32)));
                }
            }
            if out.len() >= 4 * MAX_RELATED {
                break;
            }
        }
        out
    }
}

fn push_unique(out: &mut Vec<SymbolRef>, target: SymbolId<'_>) {
    if !out
        .iter()
        .any(|r| r.path == target.path && r.index == target.index)
    {
        out.push(SymbolRef {
            path: target.path.to_string(),
            index: target.index,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::{FileEntry, RepoGraph};
    use crate::{Extractor, Language};
    use std::time::Duration;

    fn graph() -> RepoGraph {
        let mut graph = RepoGraph::default();
        for (path, source) in [
            (
                "src/ledger.rs",
                "pub struct Ledger { total: i64 }\nimpl Ledger {\n    pub fn post(&mut self, amount: i64) { self.check(amount); self.total += amount; }\n    fn check(&self, amount: i64) { validate(amount); }\n}\n",
            ),
            (
                "src/rules.rs",
                "pub fn validate(amount: i64) { assert!(amount != 0); }\n",
            ),
            (
                "src/main.rs",
                "use crate::ledger::Ledger;\nfn main() { let mut l = Ledger { total: 0 }; l.post(5); }\n",
            ),
        ] {
            let parsed = Extractor::new()
                .extract(Language::Rust, source, Duration::from_secs(5))
                .unwrap();
            graph.files.insert(
                path.into(),
                FileEntry {
                    blob: String::new(),
                    language: Some(Language::Rust),
                    bytes: 0,
                    lines: 0,
                    skipped: None,
                    parsed,
                    rank: Vec::new(),
                    findings: Vec::new(),
                    fingerprints: Vec::new(),
                },
            );
        }
        graph.analyse();
        graph
    }

    fn name(graph: &RepoGraph, r: &super::SymbolRef) -> String {
        graph
            .symbol(&r.path, r.index)
            .unwrap()
            .qualified_name
            .clone()
    }

    #[test]
    fn members_callers_callees_and_use_sites() {
        let graph = graph();
        let symbols = &graph.files["src/ledger.rs"].parsed.symbols;
        let ledger = symbols.iter().position(|s| s.name == "Ledger").unwrap() as u32;
        let post = symbols.iter().position(|s| s.name == "post").unwrap() as u32;
        let check = symbols.iter().position(|s| s.name == "check").unwrap() as u32;
        let members: Vec<&str> = graph
            .members("src/ledger.rs", ledger)
            .iter()
            .map(|&i| symbols[i as usize].name.as_str())
            .collect();
        assert_eq!(members, ["total", "post", "check"]);
        let callees: Vec<String> = graph
            .callees("src/ledger.rs", check)
            .iter()
            .map(|r| name(&graph, r))
            .collect();
        assert_eq!(callees, ["validate"]);
        let callers: Vec<String> = graph
            .callers("src/ledger.rs", post)
            .iter()
            .map(|r| name(&graph, r))
            .collect();
        assert_eq!(callers, ["main"]);
        let callers: Vec<String> = graph
            .callers("src/ledger.rs", check)
            .iter()
            .map(|r| name(&graph, r))
            .collect();
        assert_eq!(callers, ["Ledger::post"]);
        let sites = graph.use_sites("validate");
        assert_eq!(sites, [("src/ledger.rs".to_string(), Some(check))]);
    }
}
