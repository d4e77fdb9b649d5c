//! What the Debian packages will run on a host, checked on copies: for now
//! `debian/scripts/nsswitch-roster`, which puts `roster` into nsswitch.conf
//! and takes it out again (the README's install steps use it too).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN_12: &str = include_str!("../fixtures/nsswitch.conf.debian12");

/// A scratch folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("roster-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` as the nsswitch.conf under test, mode 0644.
    fn conf(&self, text: &str) -> PathBuf {
        let path = self.0.join("nsswitch.conf");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `nsswitch-roster ACTION FILE`.
fn run(action: &str, file: &Path) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/scripts/nsswitch-roster");
    Command::new(script).arg(action).arg(file).output().unwrap()
}

/// [`run`], then its exit code, stderr and the file after.
fn edit(action: &str, file: &Path) -> (i32, String, String) {
    let out = run(action, file);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(file).unwrap(),
    )
}

#[test]
fn add_puts_roster_after_files_and_remove_restores_every_byte() {
    let scratch = Scratch::new("nsswitch-add");
    let conf = scratch.conf(DEBIAN_12);
    let added = DEBIAN_12
        .replace(
            "passwd:         files systemd",
            "passwd:         files roster systemd",
        )
        .replace(
            "group:          files systemd",
            "group:          files roster systemd",
        );
    assert_eq!(edit("add", &conf), (0, String::new(), added.clone()));
    // Twice changes nothing.
    assert_eq!(edit("add", &conf), (0, String::new(), added));
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o644);
    assert_eq!(edit("remove", &conf), (0, String::new(), DEBIAN_12.into()));
}

#[test]
fn a_line_naming_roster_is_the_administrators_and_comments_are_kept() {
    let scratch = Scratch::new("nsswitch-hand");
    let text = "# passwd: files\npasswd: roster files\ngroup:files\npasswd_x: files\n";
    let conf = scratch.conf(text);
    assert_eq!(
        edit("add", &conf),
        (
            0,
            String::new(),
            "# passwd: files\npasswd: roster files\ngroup:files roster\npasswd_x: files\n".into()
        )
    );
    // remove takes roster out wherever it is, with an action block right after it.
    scratch.conf("passwd: roster  files\ngroup: files roster [NOTFOUND=return]  systemd\n");
    assert_eq!(
        edit("remove", &conf),
        (
            0,
            String::new(),
            "passwd: files\ngroup: files systemd\n".into()
        )
    );
}

#[test]
fn a_line_without_files_is_left_alone_with_a_warning() {
    let scratch = Scratch::new("nsswitch-nofiles");
    let conf = scratch.conf("passwd: sss\ngroup: files\n");
    let (status, stderr, after) = edit("add", &conf);
    assert_eq!(
        (status, after.as_str()),
        (0, "passwd: sss\ngroup: files roster\n")
    );
    assert_eq!(
        stderr,
        format!(
            "nsswitch-roster: {}: the passwd line has no \"files\"; add roster to it by hand\n",
            conf.display()
        )
    );
}

#[test]
fn bad_usage_and_a_missing_file_fail_without_writing() {
    let scratch = Scratch::new("nsswitch-usage");
    let conf = scratch.conf(DEBIAN_12);
    assert_eq!(
        edit("enable", &conf),
        (
            2,
            "usage: nsswitch-roster add|remove [FILE]\n".into(),
            DEBIAN_12.into()
        )
    );
    let missing = scratch.0.join("absent.conf");
    let out = run("add", &missing);
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (
            Some(1),
            format!("nsswitch-roster: {}: no such file\n", missing.display()).as_str()
        )
    );
    assert!(!missing.exists());
    // Nothing is left behind beside the file.
    let names: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["nsswitch.conf"]);
}
