//! `BodyScanner::feed` never allocates, whatever the body: counted with a
//! global allocator in this test binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use llm_request::{BodyScanner, RequestSummary};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn feeding_chunks_allocates_nothing() {
    let mut body = br#"{"model":"gpt-4o","stream":true,"tools":[{"type":"function","function":{"name":"f","parameters":{"a":[1,2.5,-3,true,null]}}}],"messages":["#.to_vec();
    for i in 0..3000 {
        body.extend(
            format!(
                r#"{{"role":"user","content":[{{"type":"text","text":"part {i} \u00e9\ud83d\ude00 é中 \n"}},{{"type":"image_url","image_url":{{"url":"data:xyz"}}}}]}},"#
            )
            .bytes(),
        );
    }
    body.extend(br#"{"content":"last"}]}"#);
    let path = Some("/v1/chat/completions");
    let want = RequestSummary::parse(&body, path).unwrap();
    for chunk in [1, 7, 1000, 16 << 10, body.len()] {
        let mut s = BodyScanner::new(path);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for c in body.chunks(chunk) {
            s.feed(c);
        }
        let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(during, 0, "chunks of {chunk}");
        assert_eq!(s.finish().unwrap(), want);
    }
}
