//! The checksum and manifest parser: any bytes, every algorithm. Never panics; what it
//! accepts is lower-case hex of the right length and names that do not climb out with `..`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use restore_drill::checksum::{Algorithm, parse_sums};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for algorithm in Algorithm::ALL {
        if let Ok(lines) = parse_sums(text, algorithm) {
            for line in lines {
                assert_eq!(line.digest.len(), algorithm.hex_len());
                assert!(line.digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
                if let Some(name) = line.name {
                    assert!(!name.split('/').any(|p| p == ".."), "{name:?}");
                }
            }
        }
    }
});
