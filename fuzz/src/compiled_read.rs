//! `compiled_read`: arbitrary bytes as a compiled snapshot file.
//!
//! `View::open` and every lookup must return an answer or a `FormatError`
//! for any bytes, never panic, loop or allocate beyond the input. Beyond
//! that:
//! - a lookup that answers, answers for what was asked (the name or id);
//! - both enumerations end (or fail) within one step per 8 bytes, each step
//!   moving forward;
//! - member offsets are clamped into the member text;
//! - the sparse read the PAM module and the sshd gate use
//!   (`Layout::read_user_lookup` into a zeroed buffer, after the header,
//!   section table and small sections) answers each user lookup exactly as
//!   the whole file does.
//!
//! Each input is checked twice: as given, and with its file length and every
//! CRC-32 recomputed ([`repair`]). Checksums stop random corruption, not a
//! writer that computes them, and without the repair nearly every mutation
//! stops at a checksum and never reaches the record and index code.

use roster::host::compiled::{GroupEntry, HEADER_LEN, Layout, UserEntry, View, table_end};

/// Names and ids the committed seeds use, and some they never do.
const NAMES: [&[u8]; 14] = [
    b"alice",
    b"bob",
    b"carol",
    b"dave",
    b"deploy",
    b"devs",
    b"developers",
    b"ops",
    b"oncall",
    b"roster-admins",
    b"root",
    b"",
    b"alice\0",
    b"u7",
];
const IDS: [u32; 12] = [
    0,
    9999,
    10_000,
    10_001,
    10_002,
    10_003,
    10_004,
    10_010,
    10_011,
    10_100,
    20_001,
    u32::MAX,
];

/// How many enumerated entries are also looked up by name and id.
const LOOKUPS_PER_WALK: usize = 8;

pub fn run(data: &[u8]) {
    check(data);
    let repaired = repair(data);
    if repaired != data {
        check(&repaired);
    }
}

/// `data` with the header's file length, every record's CRC, every small
/// section's CRC, the body CRC and the header CRC recomputed, as far as the
/// section table can be followed (see docs/compiled-format.md).
pub fn repair(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    if b.len() < HEADER_LEN {
        return b;
    }
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let len = b.len();
    b[48..56].copy_from_slice(&(len as u64).to_le_bytes());
    let table = table_end(&b);
    if table > len {
        return b;
    }
    for entry in (HEADER_LEN..table).step_by(24) {
        let kind = le32(&b, entry);
        let (start, size) = (le64(&b, entry + 8), le64(&b, entry + 16));
        let Some(end) = start.checked_add(size).filter(|e| *e <= len as u64) else {
            continue;
        };
        let section = &mut b[start as usize..end as usize];
        match kind {
            // Users and groups: a chain of records, each length and CRC first.
            1 | 4 => {
                let mut at = 0;
                while at + 8 <= section.len() {
                    let n = le32(section, at) as usize;
                    if n < 8 || n > section.len() - at {
                        break;
                    }
                    let crc = crc32fast::hash(&section[at + 8..at + n]);
                    section[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
                    at += n;
                }
            }
            // Policy, user CAs, revocations, grants, sudo rules: CRC, then payload.
            7..=11 if section.len() >= 4 => {
                let crc = crc32fast::hash(&section[4..]);
                section[..4].copy_from_slice(&crc.to_le_bytes());
            }
            _ => {}
        }
    }
    let body = crc32fast::hash(&b[table..]);
    b[56..60].copy_from_slice(&body.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..60]);
    h.update(&[0; 4]);
    h.update(&b[HEADER_LEN..table]);
    let head = h.finalize();
    b[60..64].copy_from_slice(&head.to_le_bytes());
    b
}

fn check(data: &[u8]) {
    let Ok(v) = View::open(data) else {
        return;
    };
    let _ = v.verify_body();
    let h = *v.header();
    assert_eq!(h.file_len, data.len() as u64);

    for name in NAMES {
        check_user(&v, name);
        check_group(&v, name);
        if let Ok(text) = std::str::from_utf8(name) {
            let _ = v.grant(text);
        }
    }
    for id in IDS {
        if let Ok(Some(u)) = v.user_by_uid(id) {
            assert_eq!(u.uid, id);
            consume_user(u);
        }
        if let Ok(Some(g)) = v.group_by_gid(id) {
            assert_eq!(g.gid, id);
            consume_group(g);
        }
    }

    // Enumerations, bounded: every record is at least 8 bytes and each step
    // moves past one, so a walk has at most len/8 steps.
    let bound = data.len() / 8 + 1;
    let mut pos = 0;
    let mut steps = 0;
    while let Ok(Some((u, next))) = v.user_at(pos) {
        assert!(next > pos, "user enumeration did not move forward");
        steps += 1;
        assert!(steps <= bound, "user enumeration does not end");
        consume_user(u);
        if steps <= LOOKUPS_PER_WALK {
            check_user(&v, u.name);
            if let Ok(Some(by_uid)) = v.user_by_uid(u.uid) {
                assert_eq!(by_uid.uid, u.uid);
            }
        }
        pos = next;
    }
    let mut pos = 0;
    let mut steps = 0;
    while let Ok(Some((g, next))) = v.group_at(pos) {
        assert!(next > pos, "group enumeration did not move forward");
        steps += 1;
        assert!(steps <= bound, "group enumeration does not end");
        consume_group(g);
        if steps <= LOOKUPS_PER_WALK {
            check_group(&v, g.name);
            if let Ok(Some(by_gid)) = v.group_by_gid(g.gid) {
                assert_eq!(by_gid.gid, g.gid);
            }
        }
        pos = next;
    }

    // The certificate gate's sections.
    if let Ok(policy) = v.host_policy() {
        assert!(policy.host_labels.len() <= data.len() / 2);
    }
    if let Ok(cas) = v.user_cas() {
        assert!(cas.len() <= data.len() / 2);
    }
    let _ = v.is_revoked(0, "", "");
    let _ = v.is_revoked(1, "alice@fuzz-plain", "SHA256:x");
    let _ = v.is_revoked(u64::MAX, "\n", "\n");
    if let Ok(Some(persons)) = v.grant("deploy") {
        assert!(persons.len() <= data.len() / 2);
    }
    if let Ok(rules) = v.sudo_rules() {
        assert!(rules.len() <= data.len() / 9);
    }

    check_sparse(data);
}

fn check_user(v: &View<'_>, name: &[u8]) {
    if let Ok(Some(u)) = v.user_by_name(name) {
        assert_eq!(u.name, name, "user_by_name answered for another name");
        consume_user(u);
        if let Ok(Some(gids)) = v.groups_of(name, u.gid) {
            assert_eq!(gids, u.groups);
        }
        let _ = v.groups_of(name, u32::MAX);
    }
}

fn check_group(v: &View<'_>, name: &[u8]) {
    if let Ok(Some(g)) = v.group_by_name(name) {
        assert_eq!(g.name, name, "group_by_name answered for another name");
        consume_group(g);
    }
}

fn consume_user(u: UserEntry<'_>) {
    let n = u.groups.len();
    assert_eq!(u.groups.count(), n);
}

fn consume_group(g: GroupEntry<'_>) {
    let members = g.members;
    let text = members.text();
    let mut offsets = 0;
    for o in members.offsets() {
        assert!(o < text.len().max(1), "member offset {o} outside the text");
        offsets += 1;
    }
    assert_eq!(offsets, members.len());
    let mut names = 0;
    for m in members {
        assert!(m.len() <= text.len() && !m.contains(&0));
        names += 1;
    }
    assert_eq!(names, members.len());
}

/// What `store::Sparse` does, in memory: the header, the section table and
/// the small sections are read, then each user lookup's slots and records.
fn check_sparse(data: &[u8]) {
    let mut buf = vec![0u8; data.len()];
    let head = HEADER_LEN.min(data.len());
    buf[..head].copy_from_slice(&data[..head]);
    let end = table_end(&buf).min(data.len());
    buf[head..end].copy_from_slice(&data[head..end]);
    let Ok(layout) = Layout::parse(&buf) else {
        panic!("the header parses from the whole file, not from its own bytes");
    };
    for range in layout.small_sections() {
        buf[range.clone()].copy_from_slice(&data[range]);
    }
    let read_at = |at: u64, dst: &mut [u8]| -> std::io::Result<()> {
        let at = usize::try_from(at).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        let src = at
            .checked_add(dst.len())
            .and_then(|end| data.get(at..end))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        dst.copy_from_slice(src);
        Ok(())
    };
    const SPARSE_NAMES: [&[u8]; 4] = [b"alice", b"bob", b"deploy", b"nobody-here"];
    const SPARSE_GIDS: [u32; 3] = [10001, 10020, 4242];
    for name in SPARSE_NAMES {
        if layout.read_user_lookup(&mut buf, name, read_at).is_err() {
            return;
        }
    }
    for gid in SPARSE_GIDS {
        if layout.read_gid_lookup(&mut buf, gid, read_at).is_err() {
            return;
        }
    }
    let whole = View::open(data).expect("opened above");
    let sparse = View::with_layout(&buf, &layout);
    for name in SPARSE_NAMES {
        assert_eq!(
            sparse.user_by_name(name),
            whole.user_by_name(name),
            "the sparse read answers {:?} differently",
            String::from_utf8_lossy(name)
        );
    }
    // sudo's account phase looks up the caller's groups by gid.
    for gid in SPARSE_GIDS {
        assert_eq!(
            sparse.group_by_gid(gid),
            whole.group_by_gid(gid),
            "the sparse read answers gid {gid} differently"
        );
    }
    // The certificate gate reads these from the sparse buffer too.
    assert_eq!(sparse.host_policy(), whole.host_policy());
    assert_eq!(sparse.user_cas(), whole.user_cas());
    assert_eq!(sparse.grant("deploy"), whole.grant("deploy"));
    assert_eq!(
        sparse.is_revoked(1, "alice@fuzz-plain", "SHA256:x"),
        whole.is_revoked(1, "alice@fuzz-plain", "SHA256:x")
    );
}
