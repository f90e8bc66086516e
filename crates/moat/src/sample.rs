//! The sample repository bundled into the binary for `moat demo`, written out as a real
//! (bare) git repository with one commit, so the rest of Moat reads it exactly as it
//! reads any customer repository.

use anyhow::{Context, Result};
use std::path::Path;

/// Files of the sample repository: path in the repository, contents.
const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../sample-repo/README.md")),
    ("Cargo.toml", include_str!("../sample-repo/Cargo.toml")),
    ("src/lib.rs", include_str!("../sample-repo/src/lib.rs")),
    (
        "src/transfer.rs",
        include_str!("../sample-repo/src/transfer.rs"),
    ),
    (
        "scripts/settlement_report.py",
        include_str!("../sample-repo/scripts/settlement_report.py"),
    ),
    (
        "web/src/api.ts",
        include_str!("../sample-repo/web/src/api.ts"),
    ),
    (
        "services/notify/main.go",
        include_str!("../sample-repo/services/notify/main.go"),
    ),
];

/// Writes the sample repository at `path` (a bare repository) unless one is already
/// there. Returns the commit id of `main`.
pub fn write_sample_repository(path: &Path) -> Result<String> {
    if path.join("HEAD").exists() {
        let repo = gix::open(path)
            .with_context(|| format!("opening the sample repository at {}", path.display()))?;
        let head = repo
            .head_id()
            .context("the sample repository has no commit; delete it and rerun `moat demo`")?;
        return Ok(head.to_string());
    }
    let repo = gix::init_bare(path)
        .with_context(|| format!("creating a git repository at {}", path.display()))?;
    let mut tree = repo.edit_tree(gix::ObjectId::empty_tree(gix::hash::Kind::Sha1))?;
    for (file, contents) in FILES {
        let blob = repo.write_blob(contents.as_bytes())?;
        tree.upsert(*file, gix::object::tree::EntryKind::Blob, blob)?;
    }
    let tree_id = tree.write()?;
    let signature = gix::actor::SignatureRef {
        name: "Moat Demo".into(),
        email: "demo@moat.invalid".into(),
        time: "1767225600 +0000",
    };
    let commit = repo.commit_as(
        signature,
        signature,
        "refs/heads/main",
        "Add the acme-payments sample\n",
        tree_id,
        gix::commit::NO_PARENT_IDS,
    )?;
    // HEAD of a fresh repository may name another default branch; point it at main.
    std::fs::write(path.join("HEAD"), "ref: refs/heads/main\n")?;
    Ok(commit.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_repository_git_can_read_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.git");
        let first = write_sample_repository(&path).unwrap();
        let again = write_sample_repository(&path).unwrap();
        assert_eq!(first, again, "rerunning reuses the repository");

        let repo = gix::open(&path).unwrap();
        let commit = repo.head_commit().unwrap();
        let tree = commit.tree().unwrap();
        for (file, contents) in FILES {
            let entry = tree
                .lookup_entry_by_path(file)
                .unwrap()
                .unwrap_or_else(|| panic!("{file} missing"));
            let blob = entry.object().unwrap();
            assert_eq!(blob.data, contents.as_bytes(), "{file}");
        }
    }
}
