//! One rule, checked everywhere it applies: every path that returns source (search
//! snippets, `get_symbol` bodies, `read_source`) asks Cedar `ReadSource`, so for every
//! tool × tier × organisation policy (on or off), what the tool returns matches what
//! `moat access explain --read-source` says (both read `Authorizer::decide`).

mod support;

use moat_domain::{Disclosure, Tier};
use moat_policy::Action;
use moat_service::SearchRequest;
use support::{REPO, developer};

const FILE: &str = "/// Settles the ledger.\npub fn settle_ledger(total: i64) -> i64 {\n    let doubled = total * 2;\n    doubled + 1\n}\n";

/// An organisation policy that forbids reading raw source anywhere.
const NO_SOURCE: &str = r#"@id("no-raw-source")
forbid(principal, action == Moat::Action::"ReadSource", resource is Moat::Repository);"#;

#[test]
fn every_tool_returns_source_exactly_when_read_source_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::one_repo(dir.path(), &[("src/ledger.rs", FILE)]);
    let user = developer();
    let mut checked = 0;
    let mut allowed_cases = 0;
    for (tier, disclosure) in [
        (Tier::Public, Disclosure::Source),
        (Tier::Internal, Disclosure::RedactedSource),
        (Tier::Confidential, Disclosure::Signatures),
        (Tier::Restricted, Disclosure::Structure),
    ] {
        for policy in [None, Some(NO_SOURCE)] {
            let org = support::org(tier, disclosure, policy);
            let (context, authorizer) = repo.context(&org);
            let explained = authorizer.decide("u1", Action::ReadSource, REPO);
            let case = format!("{disclosure} with policy {}", policy.is_some());
            // search_code
            let results = context
                .search(
                    &user,
                    &SearchRequest {
                        query: "settle_ledger".into(),
                        limit: 10,
                        ..SearchRequest::default()
                    },
                )
                .unwrap();
            assert!(!results.hits.is_empty(), "{case}");
            for hit in &results.hits {
                assert_eq!(hit.snippet.is_some(), explained.allow, "snippet, {case}");
            }
            // get_symbol
            let symbols = context.symbol(&user, "settle_ledger", None).unwrap();
            assert_eq!(symbols.len(), 1, "{case}");
            assert_eq!(symbols[0].body.is_some(), explained.allow, "body, {case}");
            // read_source
            let read = context.read_source(&user, REPO, "src/ledger.rs", 1, 5);
            assert_eq!(read.is_ok(), explained.allow, "read_source, {case}");
            if let Err(error) = read {
                assert!(
                    error.to_string().contains(&explained.reason),
                    "the denial says why, as explain does: {error} / {}",
                    explained.reason
                );
            }
            if policy.is_some() {
                assert!(!explained.allow, "the organisation policy forbids: {case}");
                assert!(
                    explained.rules.iter().any(|r| r == "no-raw-source"),
                    "{:?}",
                    explained.rules
                );
            }
            allowed_cases += usize::from(explained.allow);
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
    assert_eq!(
        allowed_cases, 2,
        "source and redacted-source without the policy"
    );
}
