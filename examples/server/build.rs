// interop/judges.rs is shared with the interop crate; its lints are settled there.
#![allow(clippy::manual_pattern_char_comparison)]

include!("../../interop/judges.rs");
