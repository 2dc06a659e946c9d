include!("../../interop/judges.rs");
