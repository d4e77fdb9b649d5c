//! roster's events file (`/var/log/roster/events.jsonl`), read one way by every test: the
//! events of one login ([`super::sshd::Login::events`]), or everything appended after a
//! [`Mark`] ([`super::sshd::SshHost::events_since`]), parsed, with filters by kind.

use std::fmt;
use std::fs;
use std::ops::Deref;
use std::path::Path;

use serde_json::Value;

/// Events, in the order roster appended them. Derefs to the slice (`is_empty`, `iter`,
/// indexing).
#[derive(Clone, Debug, Default)]
pub struct Events(Vec<Value>);

/// Where the events file ended at some moment: [`Events::read_since`] reads what came after.
#[derive(Clone, Copy, Debug)]
pub struct Mark(u64);

impl Mark {
    /// The start of the file: everything in it.
    pub const START: Mark = Mark(0);

    /// The end of the events file at `path` now (0 if there is none yet).
    pub fn of(path: &Path) -> Mark {
        Mark(fs::metadata(path).map_or(0, |m| m.len()))
    }
}

impl Events {
    /// Every line appended to `path` after `mark`, each parsed as JSON (panics on a line
    /// that is not).
    pub fn read_since(path: &Path, mark: Mark) -> Events {
        let bytes = fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes[mark.0 as usize..]);
        Events(
            text.lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("events line is not JSON ({e}): {l:?}"))
                })
                .collect(),
        )
    }

    /// The events whose `"event"` is `kind`.
    pub fn of_kind(&self, kind: &str) -> Events {
        Events(self.iter_kind(kind).cloned().collect())
    }

    fn iter_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> {
        let kind = kind.to_owned();
        self.0
            .iter()
            .filter(move |e| e["event"].as_str() == Some(kind.as_str()))
    }

    /// The one event of kind `kind`; panics, showing them all, if there is not exactly one.
    #[track_caller]
    pub fn one(&self, kind: &str) -> &Value {
        match self.iter_kind(kind).collect::<Vec<_>>().as_slice() {
            [one] => one,
            other => panic!(
                "expected one {kind:?} event, found {}:\n{self}",
                other.len()
            ),
        }
    }

    /// `(event, account)` of each event, in order: the story in short.
    pub fn kinds_and_accounts(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap_or("?"),
                    e["account"].as_str().unwrap_or("?"),
                )
            })
            .collect()
    }
}

impl Deref for Events {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        &self.0
    }
}

impl fmt::Display for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}
