//! Reading repositories straight from git objects (gix): no working checkout, so what
//! is indexed is exactly what is committed, and a repository can be indexed while
//! someone else's checkout of it is dirty.
//!
//! Broken objects are not fatal: a tree or blob that cannot be read is reported as one
//! unreadable entry and the rest of the commit is still indexed.

use crate::IndexError;
use std::path::Path;

/// A git repository opened for reading, shareable across threads.
pub struct GitRepo {
    repo: gix::ThreadSafeRepository,
    /// What the repository is called in messages.
    name: String,
}

/// One entry of a commit's tree, flattened to its full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    /// Hex object id (a blob, or the commit of a submodule).
    pub blob: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Symlink,
    Submodule,
    /// A tree that could not be read; `path` is the directory.
    Unreadable,
}

impl GitRepo {
    pub fn open(name: &str, source: &Path) -> Result<GitRepo, IndexError> {
        let repo = gix::open(source).map_err(|e| IndexError::Git {
            repo: name.to_string(),
            message: format!("cannot open {} as a git repository: {e}", source.display()),
        })?;
        Ok(GitRepo {
            repo: repo.into_sync(),
            name: name.to_string(),
        })
    }

    fn error(&self, message: String) -> IndexError {
        IndexError::Git {
            repo: self.name.clone(),
            message,
        }
    }

    /// The commit a branch, tag or commit id names; `None` means HEAD.
    pub fn resolve(&self, reference: Option<&str>) -> Result<String, IndexError> {
        let repo = self.repo.to_thread_local();
        let commit = match reference {
            None => repo
                .head_commit()
                .map_err(|e| self.error(format!("HEAD does not name a commit: {e}")))?,
            Some(reference) => {
                if reference.len() == 40
                    && let Ok(id) = gix::ObjectId::from_hex(reference.as_bytes())
                {
                    repo.find_commit(id)
                        .map_err(|e| self.error(format!("no commit {reference}: {e}")))?
                } else {
                    repo.find_reference(reference)
                        .map_err(|e| self.error(format!("no branch or tag `{reference}`: {e}")))?
                        .peel_to_commit()
                        .map_err(|e| {
                            self.error(format!("`{reference}` does not name a commit: {e}"))
                        })?
                }
            }
        };
        Ok(commit.id.to_hex().to_string())
    }

    /// Every entry of the commit's tree, depth first, sorted by path.
    pub fn entries(&self, commit: &str) -> Result<Vec<TreeEntry>, IndexError> {
        let repo = self.repo.to_thread_local();
        let id = gix::ObjectId::from_hex(commit.as_bytes())
            .map_err(|e| self.error(format!("bad commit id {commit}: {e}")))?;
        let commit_object = repo
            .find_commit(id)
            .map_err(|e| self.error(format!("cannot read commit {commit}: {e}")))?;
        let root = commit_object
            .tree_id()
            .map_err(|e| self.error(format!("commit {commit} has no readable tree: {e}")))?
            .detach();
        let mut out = Vec::new();
        let mut pending = vec![(String::new(), root)];
        while let Some((directory, tree_id)) = pending.pop() {
            let tree = repo.find_tree(tree_id).ok();
            let Some(decoded) = tree.as_ref().and_then(|t| t.decode().ok()) else {
                out.push(TreeEntry {
                    path: directory,
                    blob: tree_id.to_hex().to_string(),
                    kind: EntryKind::Unreadable,
                });
                continue;
            };
            for entry in &decoded.entries {
                let name = String::from_utf8_lossy(entry.filename);
                let path = if directory.is_empty() {
                    name.into_owned()
                } else {
                    format!("{directory}/{name}")
                };
                let oid = entry.oid.to_owned();
                let kind = if entry.mode.is_tree() {
                    pending.push((path, oid));
                    continue;
                } else if entry.mode.is_commit() {
                    EntryKind::Submodule
                } else if entry.mode.is_link() {
                    EntryKind::Symlink
                } else {
                    EntryKind::File
                };
                out.push(TreeEntry {
                    path,
                    blob: oid.to_hex().to_string(),
                    kind,
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The bytes of a blob, or why they cannot be read.
    pub fn read_blob(&self, blob: &str) -> Result<Vec<u8>, IndexError> {
        let repo = self.repo.to_thread_local();
        self.read_blob_with(&repo, blob)
    }

    pub(crate) fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    pub(crate) fn read_blob_with(
        &self,
        repo: &gix::Repository,
        blob: &str,
    ) -> Result<Vec<u8>, IndexError> {
        let id = gix::ObjectId::from_hex(blob.as_bytes())
            .map_err(|e| self.error(format!("bad object id {blob}: {e}")))?;
        let object = repo
            .find_object(id)
            .map_err(|e| self.error(format!("cannot read object {blob}: {e}")))?;
        if object.kind != gix::object::Kind::Blob {
            return Err(self.error(format!("object {blob} is a {}, not a blob", object.kind)));
        }
        Ok(object.detach().data)
    }
}
