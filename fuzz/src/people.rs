//! `people`: text as a people file → `people::parse`, then `people::build`.
//!
//! Never panics. A people file that parses and builds gives a source
//! snapshot that hosts accept as a document (`validate` may still drop
//! entries the host's policy refuses, but never the whole snapshot, a home
//! or an unmarked root-equivalent sudo rule), and building is deterministic.

use roster::snapshot::{Reason, validate};
use roster::tools::people::{Ledger, build, parse};

use crate::{NOW, local_tables, policies};

pub fn run(data: &[u8]) {
    let text = crate::text(data);
    let Ok(people) = parse(&text) else {
        return;
    };
    let mut ledger = Ledger::default();
    let Ok(snapshot) = build(&people, &[], &mut ledger, NOW) else {
        return;
    };
    let mut again = Ledger::default();
    let rebuilt = build(&people, &[], &mut again, NOW).expect("a second build");
    assert_eq!(rebuilt, snapshot, "build is not deterministic");
    assert_eq!(again, ledger);
    let json = serde_json::to_vec_pretty(&snapshot).expect("JSON");
    for policy in policies() {
        let s = match validate(&json, policy, local_tables(), NOW) {
            Ok(s) => s,
            Err(e) => panic!("hosts refuse the built snapshot whole: {e}"),
        };
        for f in &s.findings {
            assert!(
                !matches!(
                    f.reason,
                    Reason::HomeTaken { .. } | Reason::UnmarkedRootEquivalent(_)
                ),
                "the build let through what hosts drop: {f}"
            );
        }
    }
}
