//! Laying out an answer in the caller's buffer, as glibc requires: every
//! string (and a group's member array) lives inside `buf`, nothing is written
//! past its end, and a buffer that is too small is reported, not overrun.
//!
//! Safe code: offsets are computed here, the ffi module turns them into the
//! pointers of `struct passwd` / `struct group`.

use roster::host::compiled::{GroupEntry, UserEntry};

use crate::Outcome;

/// The caller's buffer cannot hold the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooSmall;

impl From<TooSmall> for Outcome {
    fn from(_: TooSmall) -> Outcome {
        Outcome::BufferTooSmall
    }
}

/// Offsets into the buffer of each string of a `struct passwd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PasswdFields {
    pub name: usize,
    pub passwd: usize,
    pub uid: u32,
    pub gid: u32,
    pub gecos: usize,
    pub dir: usize,
    pub shell: usize,
}

/// Offsets of a `struct group`'s strings and of its NULL-terminated member
/// array, whose pointers are already written into the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupFields {
    pub name: usize,
    pub passwd: usize,
    pub gid: u32,
    pub members: usize,
}

/// The password field: never a hash. `*` (rather than `x`) also makes
/// pam_unix's account check pass for a user without a shadow entry
/// (see TESTING.md).
const NO_PASSWORD: &[u8] = b"*";

pub(crate) fn passwd(u: &UserEntry<'_>, buf: &mut [u8]) -> Result<PasswdFields, TooSmall> {
    let mut p = Packer { buf, pos: 0 };
    Ok(PasswdFields {
        name: p.string(u.name)?,
        passwd: p.string(NO_PASSWORD)?,
        uid: u.uid,
        gid: u.gid,
        gecos: p.string(u.gecos)?,
        dir: p.string(u.home)?,
        shell: p.string(u.shell)?,
    })
}

pub(crate) fn group(g: &GroupEntry<'_>, buf: &mut [u8]) -> Result<GroupFields, TooSmall> {
    let mut p = Packer { buf, pos: 0 };
    let name = p.string(g.name)?;
    let passwd = p.string(NO_PASSWORD)?;
    let members = p.members(g)?;
    Ok(GroupFields {
        name,
        passwd,
        gid: g.gid,
        members,
    })
}

struct Packer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

const POINTER: usize = std::mem::size_of::<usize>();

impl Packer<'_> {
    /// Copies `s` and a NUL; returns its offset.
    fn string(&mut self, s: &[u8]) -> Result<usize, TooSmall> {
        let at = self.pos;
        let end = at.checked_add(s.len() + 1).ok_or(TooSmall)?;
        let dst = self.buf.get_mut(at..end).ok_or(TooSmall)?;
        let (text, nul) = dst.split_at_mut(s.len());
        text.copy_from_slice(s);
        nul[0] = 0;
        self.pos = end;
        Ok(at)
    }

    /// Lays out a group's member list: a pointer-aligned, NULL-terminated
    /// array of `char *`, then the names it points to. The compiled record
    /// stores the names NUL-terminated, so they are copied in one go and
    /// only the pointers are computed per member (this is the hot loop of
    /// `getent group` over big groups).
    fn members(&mut self, g: &GroupEntry<'_>) -> Result<usize, TooSmall> {
        let n = g.members.len();
        let text = g.members.text();
        let base = self.buf.as_ptr() as usize;
        let array = self.pos + (POINTER - (base + self.pos) % POINTER) % POINTER;
        let names = n
            .checked_add(1)
            .and_then(|slots| slots.checked_mul(POINTER))
            .and_then(|len| array.checked_add(len))
            .ok_or(TooSmall)?;
        let end = names.checked_add(text.len()).ok_or(TooSmall)?;
        let area = self.buf.get_mut(array..end).ok_or(TooSmall)?;
        let (slots, copy) = area.split_at_mut(names - array);
        copy.copy_from_slice(text);
        // n pointers, then the terminating NULL (slots holds exactly n + 1).
        let (pointers, terminator) = slots.split_at_mut(n * POINTER);
        terminator.fill(0);
        let text_address = base + names;
        // Offsets are clamped into the text by Members::offsets: every
        // pointer lands on a name inside the copied text.
        for (slot, offset) in pointers.chunks_exact_mut(POINTER).zip(g.members.offsets()) {
            slot.copy_from_slice(&(text_address + offset).to_ne_bytes());
        }
        self.pos = end;
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster::host::compiled::{View, compile};
    use roster::local::LocalTables;
    use roster::snapshot::{Policy, validate};

    fn sample() -> Vec<u8> {
        let json = br#"{"format":"roster-snapshot/1","serial":1,
            "issued_at":"2026-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z",
            "users":[{"name":"alice","uid":10001,"gid":10001,"gecos":"Alice","home":"/home/alice",
                      "shell":"/bin/sh","state":"active","role":"user"},
                     {"name":"bob","uid":10002,"gid":10002,"home":"/home/bob",
                      "shell":"/bin/sh","state":"active","role":"user"}],
            "groups":[{"name":"devs","gid":10010,"members":["alice","bob"]}]}"#;
        let local = LocalTables::parse("", "", "/bin/sh\n");
        let snapshot = validate(json, &Policy::default(), &local, 0).unwrap();
        compile(
            &snapshot,
            &roster::host::compiled::HostPolicy::with_defaults("test"),
            0,
        )
        .unwrap()
    }

    fn c_str(buf: &[u8], at: usize) -> &[u8] {
        let s = &buf[at..];
        &s[..s.iter().position(|&b| b == 0).unwrap()]
    }

    #[test]
    fn passwd_needs_exactly_its_strings() {
        let bytes = sample();
        let v = View::open(&bytes).unwrap();
        let u = v.user_by_name(b"alice").unwrap().unwrap();
        let needed = "alice*Alice/home/alice/bin/sh".len() + 5;
        for len in 0..needed {
            assert_eq!(passwd(&u, &mut vec![0; len]), Err(TooSmall), "len {len}");
        }
        let mut buf = vec![0xAA; needed + 8];
        let f = passwd(&u, &mut buf[..needed]).unwrap();
        assert_eq!(c_str(&buf, f.dir), b"/home/alice");
        assert_eq!(c_str(&buf, f.passwd), b"*");
        assert_eq!(buf[needed..], [0xAA; 8]);
    }

    #[test]
    fn group_members_are_aligned_pointers_into_the_buffer() {
        let bytes = sample();
        let v = View::open(&bytes).unwrap();
        let g = v.group_by_name(b"devs").unwrap().unwrap();
        for offset in 0..8 {
            // Not zeroed: the terminating NULL must be written, not inherited.
            let mut storage = vec![0xAAu8; 256];
            let buf = &mut storage[offset..];
            let base = buf.as_ptr() as usize;
            let f = group(&g, buf).unwrap();
            assert_eq!((base + f.members) % POINTER, 0);
            let slot = |i: usize| {
                let at = f.members + i * POINTER;
                usize::from_ne_bytes(buf[at..at + POINTER].try_into().unwrap())
            };
            assert_eq!(c_str(buf, slot(0) - base), b"alice");
            assert_eq!(c_str(buf, slot(1) - base), b"bob");
            assert_eq!(slot(2), 0);
        }
    }
}
