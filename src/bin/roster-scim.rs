//! `roster-scim`: the SCIM 2.0 service (docs/scim.md). Parses the command
//! line and calls the library, like `roster`; `roster scim ARGS` runs it.

fn main() -> std::process::ExitCode {
    roster::scim::main(std::env::args_os().skip(1))
}
