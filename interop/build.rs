//! Which external judges are installed: sets the `judge_*` cfgs the tests are ignored by
//! (see test-support's `judges`).

fn main() {
    cert_download_test_support::judges::probe();
}
