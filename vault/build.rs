//! Whether a PostgreSQL cluster is given for the tests: CERT_DOWNLOAD_POSTGRES_URL (a URL
//! such as postgres://postgres@127.0.0.1:5432/postgres whose user may create databases).
//! Set, it sets the `postgres_cluster` cfg; unset, the PostgreSQL tests are ignored with
//! the reason "needs PostgreSQL ...". With CERT_DOWNLOAD_JUDGES=required (scripts/test-all,
//! which starts a throwaway cluster and sets the URL) a missing cluster fails the build
//! instead. Nothing else is printed: building or running the admin command says nothing
//! about tests (the line naming what to install is printed when the tests run, by the
//! test-support crate's `tests_not_run_for_want_of_a_judge`).
//!
//! Only the presence of the variable is judged here (a build script does not connect):
//! a URL that does not answer fails the PostgreSQL tests, it does not skip them.

fn main() {
    println!("cargo::rerun-if-env-changed=CERT_DOWNLOAD_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CERT_DOWNLOAD_JUDGES");
    // `sqlx::migrate!` embeds the migrations: a new file must rebuild the crate.
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(postgres_cluster)");
    if std::env::var_os("CERT_DOWNLOAD_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=postgres_cluster");
        return;
    }
    if std::env::var("CERT_DOWNLOAD_JUDGES").is_ok_and(|v| v == "required") {
        panic!(
            "CERT_DOWNLOAD_JUDGES=required, but PostgreSQL not given (CERT_DOWNLOAD_POSTGRES_URL \
             unset): the vault's PostgreSQL tests are not run; install: apt-get install \
             postgresql, then run scripts/test-all (it starts a throwaway cluster), or point \
             CERT_DOWNLOAD_POSTGRES_URL at a cluster"
        );
    }
}
