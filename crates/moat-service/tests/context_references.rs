//! `find_references` lists the lines that use a name; below `source` a line that names
//! it only in a comment or a string is not listed, since that would show where a word
//! the tier hides sits.

mod support;

use moat_domain::{Disclosure, Tier};
use support::{REPO, developer};

const FILE: &str = "pub fn settle(amount: i64) -> i64 {\n    amount\n}\n\npub fn run() -> i64 {\n    // settle is called below\n    let label = \"settle\";\n    settle(4)\n}\n";

#[test]
fn below_source_comment_and_string_mentions_are_not_use_sites() {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::one_repo(dir.path(), &[("src/lib.rs", FILE)]);
    for (tier, disclosure, expected) in [
        (Tier::Public, Disclosure::Source, vec![6, 7, 8]),
        (Tier::Internal, Disclosure::RedactedSource, vec![8]),
        (Tier::Confidential, Disclosure::Signatures, vec![8]),
        (Tier::Restricted, Disclosure::Structure, vec![8]),
    ] {
        let (context, _) = repo.context(&support::org(tier, disclosure, None));
        let sites = context
            .references(&developer(), "settle", Some(REPO))
            .unwrap();
        let in_run: Vec<u32> = sites
            .iter()
            .filter(|s| s.enclosing.as_deref() == Some("run"))
            .flat_map(|s| s.lines.clone())
            .collect();
        assert_eq!(in_run, expected, "{disclosure}: {sites:?}");
    }
}
