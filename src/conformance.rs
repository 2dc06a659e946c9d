//! A conformance suite for [`CertificateStore`](crate::CertificateStore) implementations.
