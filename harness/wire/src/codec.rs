//! TLS presentation language (RFC 8446 §3) with the MLS additions (RFC 9420 §2.1): varint-length
//! vectors and `optional<T>`. The reader is bounds-checked everywhere and names the structure,
//! field and byte offset of whatever it cannot read, because that error is what a vendor sees
//! when its provider sends a malformed body.

use std::fmt;

/// Where and why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub structure: &'static str,
    pub field: &'static str,
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} at byte offset {}: {}",
            self.structure, self.field, self.offset, self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// A structure that can be read from the wire.
pub trait Decode: Sized {
    /// The draft's name for the structure, used in decode errors.
    const NAME: &'static str;
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A structure that can be written to the wire.
pub trait Encode {
    fn encode(&self, w: &mut Writer);

    fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_as(Draft::default())
    }

    fn to_bytes_as(&self, draft: Draft) -> Vec<u8> {
        let mut w = Writer::with_draft(draft);
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// Decodes a whole body as one `T` (current draft); trailing bytes are an error.
pub fn decode_exact<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode_exact_as(bytes, Draft::default())
}

pub fn decode_exact_as<T: Decode>(bytes: &[u8], draft: Draft) -> Result<T, DecodeError> {
    let mut r = Reader::with_draft(bytes, draft);
    let value = r.read::<T>()?;
    r.finish()?;
    Ok(value)
}

/// The revision of draft-ietf-mimi-protocol whose wire format to read and write. The changes
/// that matter on the wire: -05 added `franking_signature_ciphersuite` to Frank; -06 added
/// `pending_proposals` to the GroupInfo TBE and extension dictionaries to ConsentEntry,
/// IdentifierRequest, IdentifierResponse and AbuseReport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Draft {
    D04,
    D05,
    #[default]
    D06,
}

impl std::str::FromStr for Draft {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim_start_matches('-') {
            "04" | "4" => Ok(Self::D04),
            "05" | "5" => Ok(Self::D05),
            "06" | "6" => Ok(Self::D06),
            other => Err(format!("protocol draft {other:?}: use 04, 05 or 06")),
        }
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Reading stops here: the end of the innermost vector being read.
    end: usize,
    structure: &'static str,
    pub draft: Draft,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_draft(buf, Draft::default())
    }

    pub fn with_draft(buf: &'a [u8], draft: Draft) -> Self {
        Self {
            buf,
            pos: 0,
            end: buf.len(),
            structure: "body",
            draft,
        }
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub fn error(&self, field: &'static str, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            structure: self.structure,
            field,
            offset: self.pos,
            reason: reason.into(),
        }
    }

    /// Reads a nested structure; errors inside it name it.
    pub fn read<T: Decode>(&mut self) -> Result<T, DecodeError> {
        let outer = std::mem::replace(&mut self.structure, T::NAME);
        let out = T::decode_fields(self);
        self.structure = outer;
        out
    }

    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos == self.end {
            Ok(())
        } else {
            Err(self.error(
                "(end)",
                format!("{} unexpected trailing byte(s)", self.end - self.pos),
            ))
        }
    }

    pub fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(
                field,
                format!(
                    "needs {n} byte(s) but only {} remain{}",
                    self.remaining(),
                    if self.end < self.buf.len() {
                        " in the enclosing vector"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(field, 1)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.bytes(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.bytes(field, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(field, N)?);
        Ok(a)
    }

    /// An MLS variable-length integer (RFC 9420 §2.1.2); non-minimal encodings are rejected.
    pub fn varint(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let start = self.pos;
        let first = self.u8(field)?;
        let (len, mut value) = match first >> 6 {
            0 => (1, u64::from(first & 0x3f)),
            1 => (2, u64::from(first & 0x3f)),
            2 => (4, u64::from(first & 0x3f)),
            _ => {
                self.pos = start;
                return Err(self.error(field, "invalid varint length prefix 0b11"));
            }
        };
        for _ in 1..len {
            value = (value << 8) | u64::from(self.u8(field)?);
        }
        let minimal = match len {
            1 => true,
            2 => value >= 64,
            _ => value >= 16384,
        };
        if !minimal {
            self.pos = start;
            return Err(self.error(field, format!("non-minimal varint encoding of {value}")));
        }
        Ok(value as usize)
    }

    /// `opaque field<V>`.
    pub fn opaque(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = self.varint(field)?;
        Ok(self.bytes(field, n)?.to_vec())
    }

    /// `T field<V>`: a varint byte length, then items until exactly that many bytes are read.
    pub fn vector<T>(
        &mut self,
        field: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.varint(field)?;
        if n > self.remaining() {
            return Err(self.error(
                field,
                format!(
                    "vector length {n} exceeds the {} byte(s) remaining",
                    self.remaining()
                ),
            ));
        }
        let outer_end = std::mem::replace(&mut self.end, self.pos + n);
        let mut items = Vec::new();
        let result = loop {
            if self.pos == self.end {
                break Ok(items);
            }
            match item(self) {
                Ok(v) => items.push(v),
                Err(e) => break Err(e),
            }
        };
        self.end = outer_end;
        result
    }

    /// `optional<T>`: a presence byte that must be 0 or 1.
    pub fn optional<T>(
        &mut self,
        field: &'static str,
        item: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => item(self).map(Some),
            other => {
                self.pos -= 1;
                Err(self.error(
                    field,
                    format!("optional presence byte is {other}, not 0 or 1"),
                ))
            }
        }
    }

    /// An MLS object (RFC 9420) read with openmls's own decoder, as it sits in the body.
    pub fn mls<T: tls_codec::Deserialize>(
        &mut self,
        field: &'static str,
    ) -> Result<T, DecodeError> {
        let mut slice = &self.buf[self.pos..self.end];
        let before = slice.len();
        let value =
            T::tls_deserialize(&mut slice).map_err(|e| self.error(field, format!("{e:?}")))?;
        self.pos += before - slice.len();
        Ok(value)
    }

    /// The bytes from `start` to the current position, for fields kept verbatim.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }
}

#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
    pub draft: Draft,
}

impl Writer {
    pub fn with_draft(draft: Draft) -> Self {
        Self {
            buf: Vec::new(),
            draft,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.raw(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.raw(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.raw(&v.to_be_bytes());
    }

    pub fn varint(&mut self, n: usize) {
        match n {
            0..=63 => self.u8(n as u8),
            64..=16383 => self.u16(0x4000 | n as u16),
            _ => {
                assert!(n < 1 << 30, "MLS vectors are limited to 2^30 bytes");
                self.u32(0x8000_0000 | n as u32)
            }
        }
    }

    pub fn opaque(&mut self, bytes: &[u8]) {
        self.varint(bytes.len());
        self.raw(bytes);
    }

    pub fn vector<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Self, &T)) {
        let mut inner = Writer::with_draft(self.draft);
        for i in items {
            item(&mut inner, i);
        }
        self.opaque(&inner.buf);
    }

    pub fn optional<T>(&mut self, value: &Option<T>, item: impl FnOnce(&mut Self, &T)) {
        match value {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                item(self, v)
            }
        }
    }

    pub fn mls<T: tls_codec::Serialize>(&mut self, value: &T) {
        value
            .tls_serialize(&mut self.buf)
            .expect("serialising into a Vec cannot fail");
    }

    pub fn write<T: Encode>(&mut self, value: &T) {
        value.encode(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_rejects_non_minimal() {
        for n in [0usize, 63, 64, 16383, 16384, (1 << 30) - 1] {
            let mut w = Writer::default();
            w.varint(n);
            let bytes = w.into_bytes();
            assert_eq!(Reader::new(&bytes).varint("n").unwrap(), n);
        }
        let err = Reader::new(&[0x40, 0x05]).varint("len").unwrap_err();
        assert!(err.reason.contains("non-minimal"), "{err}");
        assert!(Reader::new(&[0xc0]).varint("len").is_err());
    }

    #[test]
    fn vector_cannot_read_past_its_length() {
        // A vector of 2 bytes followed by 2 more: its u32 item must not read into them.
        let err = Reader::new(&[0x02, 0, 0, 0, 0])
            .vector("items", |r| r.u32("item"))
            .unwrap_err();
        assert_eq!(err.field, "item");
        assert!(err.reason.contains("enclosing vector"), "{err}");
    }

    #[test]
    fn optional_rejects_presence_byte_other_than_0_or_1() {
        let err = Reader::new(&[2]).optional("x", |r| r.u8("x")).unwrap_err();
        assert_eq!(err.offset, 0);
    }
}
