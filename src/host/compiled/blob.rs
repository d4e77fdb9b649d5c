//! The small sections (host policy, user CAs, revocations, grants): a CRC-32
//! of the payload, then the payload as length-prefixed fields. They are read
//! only by the certificate gate (sshd, PAM), a few hundred bytes at a time,
//! so each read checks the whole section's CRC.

use super::FormatError;

/// Builds a section payload.
#[derive(Default)]
pub(crate) struct BlobWriter(Vec<u8>);

impl BlobWriter {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A string of at most 65535 bytes, u16 length first.
    pub fn str(&mut self, s: &str) -> Result<&mut Self, FormatError> {
        let len = u16::try_from(s.len()).map_err(|_| FormatError::TooLarge("string"))?;
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(self)
    }

    /// A count, checked to fit u32.
    pub fn count(&mut self, n: usize) -> Result<&mut Self, FormatError> {
        let n = u32::try_from(n).map_err(|_| FormatError::TooLarge("list"))?;
        Ok(self.u32(n))
    }

    /// The section bytes: CRC, then payload.
    pub fn finish(self) -> Vec<u8> {
        let mut out = crc32fast::hash(&self.0).to_le_bytes().to_vec();
        out.extend_from_slice(&self.0);
        out
    }
}

/// Reads a section payload after checking its CRC.
pub(crate) struct BlobReader<'a>(&'a [u8]);

impl<'a> BlobReader<'a> {
    pub fn open(section: &'a [u8]) -> Result<BlobReader<'a>, FormatError> {
        let (crc, payload) = section
            .split_first_chunk::<4>()
            .ok_or(FormatError::CorruptRecord)?;
        if crc32fast::hash(payload) != u32::from_le_bytes(*crc) {
            return Err(FormatError::CorruptRecord);
        }
        Ok(BlobReader(payload))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or(FormatError::CorruptRecord)?;
        self.0 = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    pub fn str(&mut self) -> Result<&'a str, FormatError> {
        let b = self.take(2)?;
        let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
        std::str::from_utf8(self.take(len)?).map_err(|_| FormatError::CorruptRecord)
    }

    /// A count, bounded by what the remaining bytes could possibly hold
    /// (`min_item` bytes each), so a corrupt count cannot drive a huge loop.
    pub fn count(&mut self, min_item: usize) -> Result<usize, FormatError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.0.len() {
            return Err(FormatError::CorruptRecord);
        }
        Ok(n)
    }
}
