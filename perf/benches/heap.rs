//! Peak heap per download, by a counting global allocator (`peak_alloc`): for each record
//! and format at the default iterations, the most bytes the download had allocated at
//! once beyond what was allocated before it, and what the file itself takes.
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench heap
//! ```

mod common;

use common::{Iter, Kind, RECORDS, run, store};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

fn main() {
    let store = store();
    println!();
    println!("## Peak heap per download (bytes above the baseline; default iterations)");
    println!();
    println!("| record | format | peak heap | file size | peak / file |");
    println!("|---|---|---:|---:|---:|");
    let policy = Iter::Default.policy();
    for (n, rec) in RECORDS {
        for kind in Kind::ALL {
            // Warm up once (lazily built tables, thread-locals), then measure.
            drop(run(kind, n, &store, &policy));
            let before = HEAP.current_usage();
            HEAP.reset_peak_usage();
            let response = run(kind, n, &store, &policy);
            let peak = HEAP.peak_usage() - before;
            let size = response.certificate().len() + response.key().map_or(0, <[u8]>::len);
            println!(
                "| {rec} | {} | {peak} | {size} | {:.2} |",
                kind.name(),
                peak as f64 / size as f64
            );
        }
    }
}
