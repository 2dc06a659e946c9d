//! The helpers that the judge test files share (`bouncycastle.rs`, `go_pkcs12.rs`,
//! `p7b_and_chains.rs`), declared once: each of those files takes them with
//! `#[path = "interop/mod.rs"] mod interop;`. Each file uses a part of them only, hence
//! the `dead_code` allowance on that declaration.

pub(crate) mod beyond;
pub(crate) mod checks;
pub(crate) mod fixtures;
pub(crate) mod tools;
