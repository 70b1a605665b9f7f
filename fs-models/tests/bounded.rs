//! Work bounded by extents (issue 17): a reflink costs what it touches, not the number of
//! extents already in the destination file.
//!
//! Tests never assert wall-clock time; these count heap bytes allocated on the test's own
//! thread (a counting global allocator), which is deterministic for a given code path. A
//! per-reflink cost that grows with the file shows up as more bytes per reflink at 40,000
//! mappings than at 10,000.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fs_models::spec::make;
use vfs::data::Data;
use vfs::extent::{FileKind, ROOT_INO};
use vfs::task::Task;

struct Counting;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|c| c.set(c.get() + bytes as u64));
}

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> u64 {
    ALLOCATED.with(Cell::get)
}

const K: u64 = 4096;

/// Heap bytes per reflink of one block onto the end of a file that already has `at`
/// mappings, averaged over 200 reflinks.
fn bytes_per_reflink(fs: &dyn vfs::fs::FileSystem, at: u64) -> u64 {
    let t = Task::new(1);
    let c = fs.lookup(ROOT_INO, "c").unwrap();
    let before = allocated();
    for i in 0..200 {
        let done = fs
            .remap_file_range(&t, c, 0, c, (at + i) * K, K, 0)
            .unwrap();
        assert_eq!(done, K);
    }
    (allocated() - before) / 200
}

#[test]
fn regression_reflink_onto_the_end_costs_the_range_not_the_file() {
    for spec in ["xfs-like", "ocfs2-like", "btrfs-like"] {
        let fs = make(spec).unwrap();
        let t = Task::new(1);
        let c = fs.create(&t, ROOT_INO, "c", FileKind::Regular).unwrap();
        fs.write(&t, c, 0, &Data::fill(b'a', K)).unwrap();
        fs.fsync(&t, c, false).unwrap();
        // Block 0 shared into blocks 1, 2, …: every reflink adds one mapping of the same
        // extent (one more back-reference) at the end of the file.
        let grow = |from: u64, to: u64| {
            for b in from..to {
                fs.remap_file_range(&t, c, 0, c, b * K, K, 0).unwrap();
            }
        };
        grow(1, 10_000);
        let small = bytes_per_reflink(&*fs, 10_000);
        grow(10_200, 40_000);
        let big = bytes_per_reflink(&*fs, 40_000);
        eprintln!("{spec}: {small} B per reflink at 10,000 mappings, {big} B at 40,000");
        assert!(
            big <= small * 2,
            "{spec}: {small} bytes per reflink at 10,000 mappings, {big} at 40,000"
        );
        assert!(fs.fsck().is_empty(), "{spec}: {:?}", fs.fsck());
    }
}
