//! Field types of MIMI structures, and `wire_struct!`, which declares a structure once (its
//! fields in wire order, with the draft's names) and derives its decoding, encoding and rendering.

use crate::codec::{Decode, DecodeError, Draft, Encode, Reader, Writer};
use crate::render::{hex_short, Render};
use serde_json::Value;

/// A value that can stand as a field of a structure.
pub trait Field: Sized {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut Writer);
    fn show(&self) -> Value;
}

macro_rules! uint_field {
    ($($t:ty => $read:ident),*) => {$(
        impl Field for $t {
            fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
                r.$read(name)
            }
            fn write(&self, w: &mut Writer) {
                w.$read(*self)
            }
            fn show(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
uint_field!(u8 => u8, u16 => u16, u32 => u32, u64 => u64);

impl<T: Decode + Encode + Render> Field for T {
    fn read(r: &mut Reader<'_>, _: &'static str) -> Result<Self, DecodeError> {
        r.read()
    }
    fn write(&self, w: &mut Writer) {
        self.encode(w)
    }
    fn show(&self) -> Value {
        self.render()
    }
}

/// `opaque field<V>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opaque(pub Vec<u8>);

impl Field for Opaque {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.opaque(name).map(Opaque)
    }
    fn write(&self, w: &mut Writer) {
        w.opaque(&self.0)
    }
    fn show(&self) -> Value {
        Value::String(hex_short(&self.0))
    }
}

/// UTF-8 text as `opaque<V>`: the draft's `string` and `UTF8String` (P-06 never defines
/// `string`; reference §9 item 8: we read it as UTF8String).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Field for Text {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        let start = r.offset();
        let bytes = r.opaque(name)?;
        String::from_utf8(bytes).map(Text).map_err(|_| {
            let mut e = r.error(name, "not valid UTF-8");
            e.offset = start;
            e
        })
    }
    fn write(&self, w: &mut Writer) {
        w.opaque(self.0.as_bytes())
    }
    fn show(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// `T field<V>`.
impl<T: Field> Field for Vec<T> {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.vector(name, |r| T::read(r, name))
    }
    fn write(&self, w: &mut Writer) {
        w.vector(self, |w, item| item.write(w))
    }
    fn show(&self) -> Value {
        Value::Array(self.iter().map(Field::show).collect())
    }
}

/// `optional<T>`.
impl<T: Field> Field for Option<T> {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.optional(name, |r| T::read(r, name))
    }
    fn write(&self, w: &mut Writer) {
        w.optional(self, |w, v| v.write(w))
    }
    fn show(&self) -> Value {
        self.as_ref().map_or(Value::Null, Field::show)
    }
}

/// A field that exists on the wire only from a draft revision on: absent (None) before it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Since<const DRAFT: u8, T>(pub Option<T>);

fn draft_number(d: Draft) -> u8 {
    match d {
        Draft::D04 => 4,
        Draft::D05 => 5,
        Draft::D06 => 6,
    }
}

impl<const DRAFT: u8, T: Field + Default> Field for Since<DRAFT, T> {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        if draft_number(r.draft) >= DRAFT {
            T::read(r, name).map(|v| Since(Some(v)))
        } else {
            Ok(Since(None))
        }
    }
    fn write(&self, w: &mut Writer) {
        if draft_number(w.draft) >= DRAFT {
            match &self.0 {
                Some(v) => v.write(w),
                None => T::default().write(w),
            }
        }
    }
    fn show(&self) -> Value {
        self.0.as_ref().map_or(Value::Null, Field::show)
    }
}

/// An enumeration on the wire (`uint8` or `uint16`), shown by its name from the draft.
#[macro_export]
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident : $repr:ty { $($variant:ident = $value:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name(pub $repr);

        #[allow(non_upper_case_globals)]
        impl $name {
            $(pub const $variant: Self = Self($value);)*

            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($value => Some(stringify!($variant)),)* _ => None }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $(stringify!($variant) => Some(Self($value)),)* _ => None }
            }
        }

        impl $crate::fields::Field for $name {
            fn read(r: &mut $crate::codec::Reader<'_>, name: &'static str) -> Result<Self, $crate::codec::DecodeError> {
                <$repr as $crate::fields::Field>::read(r, name).map(Self)
            }
            fn write(&self, w: &mut $crate::codec::Writer) {
                <$repr as $crate::fields::Field>::write(&self.0, w)
            }
            fn show(&self) -> serde_json::Value {
                serde_json::Value::String(self.name().map(str::to_string).unwrap_or_else(|| format!("unknown({})", self.0)))
            }
        }
    };
}

/// A structure whose fields are all `Field`s, in wire order, named as in the draft.
#[macro_export]
macro_rules! wire_struct {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty = $wire:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name { $(pub $field: $ty,)* }

        impl $crate::codec::Decode for $name {
            const NAME: &'static str = stringify!($name);
            fn decode_fields(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                Ok(Self { $($field: <$ty as $crate::fields::Field>::read(r, $wire)?,)* })
            }
        }

        impl $crate::codec::Encode for $name {
            fn encode(&self, w: &mut $crate::codec::Writer) {
                $(<$ty as $crate::fields::Field>::write(&self.$field, w);)*
            }
        }

        impl $crate::render::Render for $name {
            fn render(&self) -> serde_json::Value {
                let mut map = serde_json::Map::new();
                $(map.insert($wire.to_string(), <$ty as $crate::fields::Field>::show(&self.$field));)*
                serde_json::Value::Object(map)
            }
        }
    };
}
