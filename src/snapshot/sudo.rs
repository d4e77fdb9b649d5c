//! What makes a sudo rule root-equivalent: the one definition that
//! validation (hosts), `roster snapshot build` (operators) and `roster
//! explain` share.
//!
//! A rule that lets its users choose the environment of the command it runs
//! hands them the run-as user: `LD_PRELOAD` (or `LD_LIBRARY_PATH`, `PATH`,
//! `PERL5OPT`, …) turns any dynamically linked program into one that runs
//! their code. sudo removes such variables unless the rule says otherwise;
//! these are the ways a rule of the schema can say otherwise. Roster cannot
//! tell whether a program itself runs others (a shell, an editor, a pager,
//! an interpreter): whoever writes such a rule marks it `root_equivalent`.

use std::fmt;

/// Why a sudo rule gives its users everything its run-as user can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootEquivalence {
    /// The SETENV tag: `sudo VAR=value command` and `sudo -E` pass any
    /// variable, `LD_PRELOAD` included (sudoers(5), "SETENV").
    SetenvTag,
    /// The command `ALL`, which runs anything and for which sudoers implies
    /// SETENV (sudoers(5), "SETENV and NOSETENV").
    AllCommands,
    /// `env` sets variables and then runs whatever command it is given.
    EnvironmentSetter(String),
    /// An argument that sets a variable (`VAR=value`) or names a dynamic
    /// linker variable (`LD_…`).
    EnvironmentArgument { command: String, argument: String },
}

impl fmt::Display for RootEquivalence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SetenvTag => {
                f.write_str("the SETENV tag lets its users set any variable, LD_PRELOAD included")
            }
            Self::AllCommands => f.write_str("command ALL runs anything, with SETENV implied"),
            Self::EnvironmentSetter(c) => {
                write!(f, "command {c:?} sets the environment and runs any command")
            }
            Self::EnvironmentArgument { command, argument } => write!(
                f,
                "command {command:?} passes the environment variable {argument:?}"
            ),
        }
    }
}

/// The first reason the rule with `commands` (a path, then arguments
/// separated by single spaces) and the SETENV tag `setenv` is
/// root-equivalent, or `None`.
pub fn root_equivalence<S: AsRef<str>>(commands: &[S], setenv: bool) -> Option<RootEquivalence> {
    if setenv {
        return Some(RootEquivalence::SetenvTag);
    }
    for command in commands {
        let command = command.as_ref();
        let mut words = command.split(' ');
        let path = words.next().unwrap_or_default();
        if path == "ALL" {
            return Some(RootEquivalence::AllCommands);
        }
        if path.rsplit('/').next() == Some("env") {
            return Some(RootEquivalence::EnvironmentSetter(bounded(command)));
        }
        if let Some(argument) = words.find(|a| a.contains('=') || a.starts_with("LD_")) {
            return Some(RootEquivalence::EnvironmentArgument {
                command: bounded(command),
                argument: bounded(argument),
            });
        }
    }
    None
}

/// At most 64 characters of a command, for a reason that stays readable.
fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_makes_a_rule_root_equivalent() {
        use RootEquivalence::*;
        let env_arg = |command: &str, argument: &str| EnvironmentArgument {
            command: command.into(),
            argument: argument.into(),
        };
        let cases: &[(&[&str], bool, Option<RootEquivalence>)] = &[
            (&["/usr/bin/systemctl restart nginx"], false, None),
            (&["/usr/bin/id -u", "/usr/bin/journalctl"], false, None),
            (&["/usr/bin/id -u"], true, Some(SetenvTag)),
            (&["ALL"], false, Some(AllCommands)),
            (&["ALL"], true, Some(SetenvTag)),
            (
                &["/usr/bin/id", "/usr/bin/env"],
                false,
                Some(EnvironmentSetter("/usr/bin/env".into())),
            ),
            (
                &["/bin/env -i /usr/bin/id"],
                false,
                Some(EnvironmentSetter("/bin/env -i /usr/bin/id".into())),
            ),
            (
                &["/usr/bin/foo LD_PRELOAD /tmp/x.so"],
                false,
                Some(env_arg("/usr/bin/foo LD_PRELOAD /tmp/x.so", "LD_PRELOAD")),
            ),
            (
                &["/usr/bin/systemctl set-environment PATH=/tmp"],
                false,
                Some(env_arg(
                    "/usr/bin/systemctl set-environment PATH=/tmp",
                    "PATH=/tmp",
                )),
            ),
            // Names that only look like it.
            (
                &["/usr/bin/envsubst", "/usr/local/env/bin/tool"],
                false,
                None,
            ),
            (&["/usr/bin/grep -r ld_preload /etc"], false, None),
        ];
        for (commands, setenv, expected) in cases {
            assert_eq!(
                &root_equivalence(commands, *setenv),
                expected,
                "{commands:?} setenv={setenv}"
            );
        }
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            root_equivalence(&["/usr/bin/env"], false)
                .unwrap()
                .to_string(),
            "command \"/usr/bin/env\" sets the environment and runs any command"
        );
        assert_eq!(
            root_equivalence(&["/usr/bin/id"], true)
                .unwrap()
                .to_string(),
            "the SETENV tag lets its users set any variable, LD_PRELOAD included"
        );
    }
}
