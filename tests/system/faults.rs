//! Faults inside host processes: a C program (tests/c/faults.c) does to the NSS module
//! what a host process might — runs out of descriptors or address space, closes or
//! dup2()s over every descriptor, looks up from atexit handlers and thread-local
//! destructors, dlopen()s and dlclose()s the module in a loop, passes a 1 MiB or
//! non-UTF-8 name — inside the same private-namespace sandbox as tests/system/nss_glibc.rs.
//! The expected outcome of each: no crash, no abort, no hang, and right answers as soon
//! as the fault is gone.

use crate::common::{Sandbox, read_fixture, sh_quote};

/// Runs `faults MODE` with the fixture snapshot; returns (status, stdout, stderr).
fn faults(mode: &str) -> (i32, String, String) {
    let sandbox = Sandbox::with_snapshot(&read_fixture("basic.json"));
    let exe = sandbox.cc("faults");
    let out = sandbox.run(&format!("exec {} {mode}", sh_quote(exe.to_str().unwrap())));
    (out.status, out.stdout, out.stderr)
}

#[test]
fn descriptors_exhausted_then_freed() {
    assert_eq!(
        faults("nofile"),
        (
            0,
            "exhausted: not found\nrestored: alice 10001\n".into(),
            String::new()
        )
    );
}

#[test]
fn address_space_capped_then_restored() {
    assert_eq!(
        faults("as"),
        (
            0,
            "local: root 0\ncapped: not found\nrestored: alice\n".into(),
            String::new()
        )
    );
}

#[test]
fn descriptors_replaced_under_the_module() {
    assert_eq!(
        faults("dup2"),
        (
            0,
            "before: alice 10001\ndup2: alice 10001\nclosed: alice 10001\n".into(),
            String::new()
        )
    );
}

#[test]
fn lookups_from_thread_destructors_and_atexit_handlers() {
    assert_eq!(
        faults("exit"),
        (
            0,
            "thread: alice 10001\ntls destructor: alice 10001\nmain: alice 10001\n\
             atexit: alice 10001\n"
                .into(),
            String::new()
        )
    );
}

#[test]
fn dlopen_and_dlclose_cycles() {
    assert_eq!(
        faults("dlopen"),
        (
            0,
            "dlopen cycles: maps stable\nafter: alice 10001\n".into(),
            String::new()
        )
    );
}

#[test]
fn huge_and_non_utf8_names() {
    assert_eq!(
        faults("hugename"),
        (0, "after: alice 10001\n".into(), String::new())
    );
}
