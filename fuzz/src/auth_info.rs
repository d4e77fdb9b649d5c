//! `auth_info`: text as sshd's `SSH_AUTH_INFO_0` → `login::parse_auth_info`.
//!
//! Never panics, and answers with a certificate only when exactly one line
//! is `publickey <type> <base64>` with a certificate type, whose certificate
//! is the one answered.

use roster::host::login::parse_auth_info;

const CERT_MARK: &str = "-cert-v01@openssh.com";

pub fn run(data: &[u8]) {
    let text = crate::text(data);
    let Ok((cert, cert_type, blob)) = parse_auth_info(&text) else {
        return;
    };
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| match line.split(' ').collect::<Vec<_>>()[..] {
            ["publickey", t, b64] if t.contains(CERT_MARK) => Some((t, b64)),
            _ => None,
        })
        .collect();
    let [(t, b64)] = lines[..] else {
        panic!("a certificate from {} certificate lines", lines.len());
    };
    let again = roster::host::cert::parse(t, b64).expect("the certificate line parses");
    assert_eq!(again, cert);
    assert_eq!((cert_type, blob), (t, b64), "the words of that line");
}
