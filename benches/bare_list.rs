//! Peer for the listing benchmark: opendal's bare recursive list of a prefix on the fs
//! service, counting files, with nothing else done. Run by benches/run.sh:
//!   cargo bench --bench bare_list -- ROOT PREFIX

use futures::TryStreamExt;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (root, prefix) = (args.next().expect("ROOT"), args.next().expect("PREFIX"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let count = runtime.block_on(async {
        let op = opendal::Operator::via_iter("fs", [("root".to_string(), root)]).unwrap();
        let mut lister = op.lister_with(&prefix).recursive(true).await.unwrap();
        let mut count = 0u64;
        while let Some(entry) = lister.try_next().await.unwrap() {
            if entry.metadata().is_file() {
                count += 1;
            }
        }
        count
    });
    println!("{count} {:.3}", started.elapsed().as_secs_f64());
}
