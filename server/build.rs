include!("../interop/judges.rs");
