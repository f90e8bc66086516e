//! What a file's place says about whether it answers a question, before its words do.
//! A bug is fixed in the project's own source far more often than in its tests,
//! documentation, configuration, CI or the third-party code it vendors; so those rank
//! lower — unless the query is about them (names such a file, or asks about docs,
//! configuration or CI in words).

use crate::search::Ranking;
use crate::{SymbolKind, Understanding};

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathClass {
    Source,
    /// Tests, examples and benchmarks: they answer "how is X used".
    Test,
    /// Documentation, changelogs, news fragments.
    Docs,
    /// Configuration, CI, build and lock files.
    Config,
    /// A copy of someone else's code.
    Vendored,
}

impl PathClass {
    pub fn of(path: &str) -> PathClass {
        let lower = path.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        let file = parts.last().copied().unwrap_or_default();
        let directories = &parts[..parts.len().saturating_sub(1)];
        if directories.iter().any(|d| {
            matches!(
                *d,
                "vendor"
                    | "vendored"
                    | "_vendor"
                    | "third_party"
                    | "third-party"
                    | "thirdparty"
                    | "node_modules"
                    | "bower_components"
            )
        }) {
            return PathClass::Vendored;
        }
        let in_tests = directories.iter().any(|d| {
            matches!(
                *d,
                "test"
                    | "tests"
                    | "testing"
                    | "spec"
                    | "specs"
                    | "__tests__"
                    | "testdata"
                    | "fixtures"
                    | "examples"
                    | "_examples"
                    | "benches"
                    | "bench"
            )
        });
        let test_file = file.starts_with("test_")
            || file.contains("_test.")
            || file.contains(".test.")
            || file.contains("_spec.")
            || file.contains(".spec.")
            || file.starts_with("tests.")
            || file.contains("_tests.");
        if in_tests || test_file {
            return PathClass::Test;
        }
        let extension = file.rsplit_once('.').map_or("", |(_, e)| e);
        if file.starts_with("requirements") || file == "cmakelists.txt" {
            return PathClass::Config;
        }
        if directories.iter().any(|d| {
            matches!(
                *d,
                "docs" | "doc" | "documentation" | "changelog.d" | "news"
            )
        }) || matches!(
            extension,
            "md" | "rst" | "txt" | "adoc" | "asciidoc" | "markdown"
        ) || file.starts_with("changelog")
            || file.starts_with("readme")
        {
            return PathClass::Docs;
        }
        if directories.first().is_some_and(|d| {
            matches!(
                *d,
                ".github" | ".gitlab" | ".circleci" | ".buildkite" | ".ci" | "ci"
            )
        }) || matches!(
            extension,
            "yml"
                | "yaml"
                | "toml"
                | "json"
                | "lock"
                | "cfg"
                | "ini"
                | "conf"
                | "xml"
                | "gradle"
                | "properties"
                | "mod"
                | "sum"
                | "bazel"
                | "bzl"
                | "cmake"
        ) || matches!(
            file,
            "dockerfile"
                | "makefile"
                | "justfile"
                | "setup.py"
                | "go.mod"
                | ".gitignore"
                | ".editorconfig"
                | "tox.ini"
                | "noxfile.py"
                | "conftest.py"
        ) {
            return PathClass::Config;
        }
        PathClass::Source
    }
}

/// The classes a query is about, so they are not ranked down: those of the files it
/// names, and those its words ask for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Asked {
    tests: bool,
    docs: bool,
    config: bool,
    vendored: bool,
}

impl Asked {
    pub fn from(understanding: &Understanding, text: &str) -> Asked {
        let mut asked = Asked::default();
        for file in &understanding.files {
            match PathClass::of(file) {
                PathClass::Test => asked.tests = true,
                PathClass::Docs => asked.docs = true,
                PathClass::Config => asked.config = true,
                PathClass::Vendored => asked.vendored = true,
                PathClass::Source => {}
            }
        }
        let mut words = 0;
        crate::tokenize::for_each_token(text, |_, _, word| {
            words += 1;
            match word.as_str() {
                "test" | "tests" | "testing" | "fixture" | "fixtures" | "example" | "examples" => {
                    asked.tests |= words <= 12
                }
                "doc" | "docs" | "documentation" | "readme" | "changelog" | "docstring" => {
                    asked.docs = true
                }
                "ci" | "workflow" | "workflows" | "dockerfile" | "makefile" | "yaml" | "toml"
                | "config" | "configuration" | "lockfile" => asked.config |= words <= 12,
                "vendor" | "vendored" => asked.vendored = true,
                _ => {}
            }
        });
        asked
    }
}

/// BM25, weighed by how likely the kind is the answer and how central the symbol is.
pub(crate) fn blend(bm25: f32, kind: SymbolKind, rank: f32, ranking: &Ranking) -> f32 {
    bm25 * (0.5 + 0.5 * kind.prior()) * (1.0 + ranking.centrality * rank.sqrt())
}

/// How much a file's place lifts or lowers it for this query.
pub(crate) fn path_prior(path: &str, asked: &Asked, ranking: &Ranking) -> f32 {
    match PathClass::of(path) {
        PathClass::Source => 1.0,
        PathClass::Test if !asked.tests => ranking.test_penalty,
        PathClass::Docs if !asked.docs => ranking.support_penalty,
        PathClass::Config if !asked.config => ranking.support_penalty,
        PathClass::Vendored if !asked.vendored => ranking.vendored_penalty,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classed() {
        for (path, class) in [
            ("src/requests/sessions.py", PathClass::Source),
            ("cmd/server/main.go", PathClass::Source),
            ("tests/test_sessions.py", PathClass::Test),
            ("pkg/cache/lru_test.go", PathClass::Test),
            ("web/app.spec.ts", PathClass::Test),
            ("docs/api.rst", PathClass::Docs),
            ("README.md", PathClass::Docs),
            ("CHANGELOG.md", PathClass::Docs),
            ("changelog.d/1234.bugfix", PathClass::Docs),
            (".github/workflows/ci.yml", PathClass::Config),
            ("Cargo.lock", PathClass::Config),
            ("pyproject.toml", PathClass::Config),
            ("Dockerfile", PathClass::Config),
            ("requirements-dev.txt", PathClass::Config),
            (
                "vendor/github.com/pkg/errors/errors.go",
                PathClass::Vendored,
            ),
            ("src/third_party/zlib/inflate.c", PathClass::Vendored),
            ("src/pip/_vendor/urllib3/util/retry.py", PathClass::Vendored),
            ("src/contests.py", PathClass::Source),
            ("src/external/client.rs", PathClass::Source),
            ("build.rs", PathClass::Source),
            ("pkg/api_tests.py", PathClass::Test),
        ] {
            assert_eq!(PathClass::of(path), class, "{path}");
        }
    }

    #[test]
    fn a_query_about_docs_or_ci_does_not_rank_them_down() {
        let ranking = Ranking::default();
        let plain = crate::understand("the retry count is wrong after a redirect");
        let asked = Asked::from(&plain, "the retry count is wrong after a redirect");
        assert!(path_prior("docs/retries.md", &asked, &ranking) < 1.0);
        assert!(path_prior(".github/workflows/ci.yml", &asked, &ranking) < 1.0);
        assert!(path_prior("vendor/retry/retry.go", &asked, &ranking) < 1.0);
        assert_eq!(path_prior("src/retry.py", &asked, &ranking), 1.0);

        let text = "The docs for retries say 3 but the CI workflow uses 5";
        let about = crate::understand(text);
        let asked = Asked::from(&about, text);
        assert_eq!(path_prior("docs/retries.md", &asked, &ranking), 1.0);
        assert_eq!(
            path_prior(".github/workflows/ci.yml", &asked, &ranking),
            1.0
        );

        let text = "pyproject.toml is ignored when the lock is stale";
        let named = crate::understand(text);
        let asked = Asked::from(&named, text);
        assert_eq!(path_prior("pyproject.toml", &asked, &ranking), 1.0);
    }
}
