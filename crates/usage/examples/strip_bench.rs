//! `UsageChunkStripper` on the 20-chunk OpenAI stream of the wasm-host
//! bench (20 content deltas, then a chunk with the usage-only event and
//! `[DONE]`), for instruction counting:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_STRIP=false cargo build --release -p usage --example strip_bench
//! valgrind --tool=callgrind --toggle-collect='*strip_bench*measured*' \
//!     target/release/examples/strip_bench [aligned|cut|bytes]
//! ```
//!
//! `aligned`: one event per chunk, as the upstream sends them; `cut`: the
//! same bytes in 20 equal chunks that split events (so events are held and
//! released); `bytes`: one byte per chunk.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Instant;

use usage::UsageChunkStripper;

const ROUNDS: usize = 1000;

fn stream() -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            format!(
                "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"
            )
            .into_bytes()
        })
        .collect();
    chunks.push(b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\ndata: [DONE]\n\n".to_vec());
    chunks
}

/// Strips the stream `ROUNDS` times; returns the bytes forwarded.
#[inline(never)]
fn measured(chunks: &[Vec<u8>]) -> usize {
    let mut forwarded = 0;
    for _ in 0..ROUNDS {
        let mut strip = UsageChunkStripper::default();
        for chunk in chunks {
            forwarded += strip.feed(black_box(chunk)).len();
        }
        forwarded += strip.finish().len();
        assert_eq!(strip.removed_events(), 1);
    }
    forwarded
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "aligned".into());
    let aligned = stream();
    let whole = aligned.concat();
    let chunks = match mode.as_str() {
        "aligned" => aligned,
        "cut" => whole
            .chunks(whole.len().div_ceil(20))
            .map(<[u8]>::to_vec)
            .collect(),
        "bytes" => whole.chunks(1).map(<[u8]>::to_vec).collect(),
        other => panic!("unknown mode {other}"),
    };
    let start = Instant::now();
    let forwarded = measured(&chunks);
    println!(
        "{mode}: {} chunks, {} bytes in, {} bytes forwarded per stream, {:?}",
        chunks.len(),
        whole.len(),
        forwarded / ROUNDS,
        start.elapsed()
    );
}
