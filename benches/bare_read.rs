//! Peer for the S3 benchmark: opendal's bare streaming read of one object to nowhere, with
//! nothing else done (no digest, no decoding, no write). Run by benches/run.sh:
//!   cargo bench --bench bare_read -- ENDPOINT BUCKET KEY     (S3, credentials `bench`)
//!   cargo bench --bench bare_read -- /ROOT - KEY              (fs)

use futures::StreamExt;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (endpoint, bucket, key) = (
        args.next().expect("ENDPOINT or /ROOT"),
        args.next().expect("BUCKET"),
        args.next().expect("KEY"),
    );
    let op = if endpoint.starts_with('/') {
        opendal::Operator::via_iter("fs", [("root".to_string(), endpoint)])
    } else {
        let options = [
            ("endpoint", endpoint.as_str()),
            ("bucket", bucket.as_str()),
            ("region", "us-east-1"),
            ("access_key_id", "bench"),
            ("secret_access_key", "bench"),
        ];
        opendal::Operator::via_iter("s3", options.map(|(k, v)| (k.to_string(), v.to_string())))
    }
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let (bytes, chunks) = runtime.block_on(async {
        let reader = op.reader(&key).await.unwrap();
        let mut stream = reader.into_bytes_stream(..).await.unwrap();
        let (mut bytes, mut chunks) = (0u64, 0u64);
        while let Some(chunk) = stream.next().await {
            bytes += chunk.unwrap().len() as u64;
            chunks += 1;
        }
        (bytes, chunks)
    });
    println!(
        "{bytes} bytes in {chunks} chunks, {:.3} s",
        started.elapsed().as_secs_f64()
    );
}
