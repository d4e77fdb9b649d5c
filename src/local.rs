//! The host's own accounts, which always win over the snapshot.
//!
//! Validation is a pure function: the agent reads `/etc/passwd`,
//! `/etc/group` and `/etc/shells` and passes their contents in, tests pass
//! literals. Parsing is lenient — a malformed local line is skipped, since
//! the local files belong to the host, not to us.

use std::collections::HashSet;
use std::path::Path;

/// Names and ids in use by local accounts, and the shells the host allows.
#[derive(Debug, Default, Clone)]
pub struct LocalTables {
    pub user_names: HashSet<String>,
    pub uids: HashSet<u32>,
    pub group_names: HashSet<String>,
    pub gids: HashSet<u32>,
    pub shells: HashSet<String>,
}

impl LocalTables {
    /// Builds the tables from the text of passwd(5), group(5) and shells(5).
    /// The tables from their files.
    pub fn read(
        passwd: &Path,
        group: &Path,
        shells: &Path,
    ) -> Result<LocalTables, crate::install::FileError> {
        use crate::install::read_text;
        Ok(LocalTables::parse(
            &read_text(passwd)?,
            &read_text(group)?,
            &read_text(shells)?,
        ))
    }

    pub fn parse(passwd: &str, group: &str, shells: &str) -> LocalTables {
        let mut t = LocalTables::default();
        for (name, id) in colon_entries(passwd, 2) {
            t.user_names.insert(name.to_owned());
            t.uids.extend(id);
        }
        for (name, id) in colon_entries(group, 2) {
            t.group_names.insert(name.to_owned());
            t.gids.extend(id);
        }
        t.shells = shells
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('/'))
            .map(str::to_owned)
            .collect();
        t
    }

    /// Is `name` a local user or group name?
    pub fn has_name(&self, name: &str) -> bool {
        self.user_names.contains(name) || self.group_names.contains(name)
    }
}

/// Whether `name` has a line in the passwd file at `passwd`. An account created
/// locally after the last sync is not in the compiled snapshot's exclusions yet;
/// the sshd gate and PAM ask this first, so the snapshot never decides for it.
pub fn is_local_user(passwd: &Path, name: &str) -> bool {
    std::fs::read_to_string(passwd)
        .is_ok_and(|text| colon_entries(&text, 2).any(|(n, _)| n == name))
}

/// `(name, numeric field at index id_field)` for each non-comment line.
fn colon_entries(text: &str, id_field: usize) -> impl Iterator<Item = (&str, Option<u32>)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        // NIS compat lines (+name, -name, +@netgroup) name no local id.
        .filter(|l| !l.starts_with('+') && !l.starts_with('-'))
        .filter_map(move |l| {
            let mut fields = l.split(':');
            let name = fields.next()?;
            let id = fields.nth(id_field - 1).and_then(|f| f.parse().ok());
            Some((name, id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_ids_and_shells() {
        let t = LocalTables::parse(
            "root:x:0:0:root:/root:/bin/bash\n# comment\n+nis\nbroken\nbob:x:1000:1000::/home/bob:/bin/sh\n",
            "root:x:0:\nusers:x:100:bob\n",
            "# /etc/shells\n/bin/sh\n/bin/bash\n\n",
        );
        assert!(t.user_names.contains("bob") && t.user_names.contains("broken"));
        assert!(!t.user_names.contains("+nis"));
        assert_eq!(t.uids, HashSet::from([0, 1000]));
        assert_eq!(t.gids, HashSet::from([0, 100]));
        assert!(t.has_name("users") && t.has_name("root") && !t.has_name("alice"));
        assert_eq!(t.shells.len(), 2);
    }
}
