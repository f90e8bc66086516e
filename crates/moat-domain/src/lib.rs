//! Moat's vocabulary: ids and plain domain types shared by every other crate.
//!
//! This crate does no IO and knows nothing of HTTP, SQL or TOML. Types derive serde so
//! configuration and storage can name them, but wire shapes live next to the code that
//! speaks them.

mod identity;
mod tier;
mod time;

pub use identity::{
    Audience, ExternalIds, OAuthBinding, Role, Scope, Token, TokenId, TrainingAttestation, User,
    UserId, UserStatus,
};
pub use tier::{Disclosure, Tier};
pub use time::UnixTime;

/// A value that failed to parse from its textual name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`; expected one of: {expected}")]
pub struct ParseNameError {
    pub what: &'static str,
    pub got: String,
    pub expected: &'static str,
}

/// Declares a closed enum with a fixed lowercase name per variant, plus `FromStr`,
/// `Display` and serde support through those names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        $vis enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static str = concat!($($text, " "),+);

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ParseNameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::ParseNameError { what: $what, got: s.to_string(), expected: $name::NAMES.trim_end() }),
                }
            }
        }
    };
}
pub(crate) use named_enum;
