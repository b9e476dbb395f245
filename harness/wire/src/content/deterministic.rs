//! Deterministic CBOR (RFC 8949 §4.2.1, required by draft-ietf-mimi-content §6.1), checked on the
//! raw bytes: ciborium decodes leniently, so a non-deterministic encoding would otherwise pass.
//! Definite lengths, shortest arguments and floats, map keys sorted bytewise and unique, valid
//! UTF-8 text, no reserved additional-information values.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CborError {
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CBOR at byte offset {}: {}", self.offset, self.reason)
    }
}

/// Items nested deeper than this are refused (the content format allows far less), so hostile
/// input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Checks that `bytes` is exactly one deterministically encoded CBOR item.
pub fn check(bytes: &[u8]) -> Result<(), CborError> {
    let mut walker = Walker { bytes, pos: 0 };
    walker.item(0)?;
    if walker.pos != bytes.len() {
        return Err(walker.error(format!(
            "{} trailing byte(s) after the item",
            bytes.len() - walker.pos
        )));
    }
    Ok(())
}

struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn error(&self, reason: impl Into<String>) -> CborError {
        CborError {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CborError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.error(format!(
                "needs {n} more byte(s), {} remain",
                self.bytes.len() - self.pos
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The head of an item: major type and argument, with the shortest-form rule checked.
    fn head(&mut self) -> Result<(u8, u64, u8), CborError> {
        let start = self.pos;
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let argument = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let n = 1usize << (info - 24);
                let v = self
                    .take(n)?
                    .iter()
                    .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                let shortest = match info {
                    24 => v >= 24,
                    25 => v > 0xff,
                    26 => v > 0xffff,
                    _ => v > 0xffff_ffff,
                };
                // Floats (major 7, 25..27) have their own shortest-form rule below.
                if !shortest && major != 7 {
                    self.pos = start;
                    return Err(self.error(format!("argument {v} is not in its shortest form")));
                }
                v
            }
            31 => {
                self.pos = start;
                return Err(self.error("indefinite length, which deterministic CBOR forbids"));
            }
            _ => {
                self.pos = start;
                return Err(self.error(format!("reserved additional information {info}")));
            }
        };
        Ok((major, argument, info))
    }

    fn item(&mut self, depth: usize) -> Result<(), CborError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let start = self.pos;
        let (major, argument, info) = self.head()?;
        let length = |w: &Self| usize::try_from(argument).map_err(|_| w.error("length too large"));
        match major {
            0 | 1 => {}
            2 => {
                let n = length(self)?;
                self.take(n)?;
            }
            3 => {
                let n = length(self)?;
                let text = self.take(n)?;
                if std::str::from_utf8(text).is_err() {
                    self.pos = start;
                    return Err(self.error("text string is not valid UTF-8"));
                }
            }
            4 => {
                for _ in 0..length(self)? {
                    self.item(depth + 1)?;
                }
            }
            5 => {
                let mut previous: Option<(usize, usize)> = None;
                for _ in 0..length(self)? {
                    let key_start = self.pos;
                    self.item(depth + 1)?;
                    let key = (key_start, self.pos);
                    if let Some(p) = previous {
                        let (a, b) = (&self.bytes[p.0..p.1], &self.bytes[key.0..key.1]);
                        if a >= b {
                            self.pos = key_start;
                            return Err(self.error(if a == b {
                                "duplicate map key"
                            } else {
                                "map keys are not in bytewise lexicographic order"
                            }));
                        }
                    }
                    previous = Some(key);
                    self.item(depth + 1)?;
                }
            }
            6 => self.item(depth + 1)?,
            _ => {
                match info {
                    0..=23 => {}
                    24 if argument < 32 => {
                        self.pos = start;
                        return Err(self.error("simple value below 32 in two bytes"));
                    }
                    24 => {}
                    25 => {}
                    26 if f16_exact(f32::from_bits(argument as u32)) => {
                        self.pos = start;
                        return Err(self
                            .error("a single-precision float that half precision holds exactly"));
                    }
                    27 if f64::from_bits(argument) as f32 as f64 == f64::from_bits(argument)
                        || f64::from_bits(argument).is_nan() =>
                    {
                        self.pos = start;
                        return Err(self
                            .error("a double-precision float that a shorter float holds exactly"));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Whether half precision represents `x` exactly (NaN and infinities included).
fn f16_exact(x: f32) -> bool {
    if x.is_nan() || x.is_infinite() || x == 0.0 {
        return true;
    }
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mantissa = bits & 0x7f_ffff;
    match exponent {
        // Normal halves keep 10 mantissa bits.
        -14..=15 => mantissa & 0x1fff == 0,
        // Subnormal halves: the value is a multiple of 2^-24.
        -24..=-15 => {
            let shift = 13 + (-14 - exponent) as u32;
            ((mantissa | 0x80_0000) & ((1 << shift) - 1)) == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_deterministic_and_rejects_the_rest() {
        check(&[0x82, 0x01, 0x61, b'a']).unwrap();
        let cases: &[(&[u8], &str)] = &[
            (&[0x18, 0x05], "shortest"),
            (&[0x9f, 0x01, 0xff], "indefinite"),
            (&[0xa2, 0x02, 0x00, 0x01, 0x00], "order"),
            (&[0xa2, 0x01, 0x00, 0x01, 0x00], "duplicate"),
            (&[0x62, 0xff, 0xfe], "UTF-8"),
            (&[0x82, 0x01], "more byte"),
            (&[0x01, 0x02], "trailing"),
            (&[0xfa, 0x3f, 0x80, 0x00, 0x00], "half precision"),
        ];
        for (bytes, word) in cases {
            let err = check(bytes).unwrap_err();
            assert!(err.reason.contains(word), "{bytes:02x?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let bytes = vec![0x81; 100_000];
        assert!(check(&bytes).unwrap_err().reason.contains("deeper"));
    }
}
