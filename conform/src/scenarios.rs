//! The hand-written scenarios, in the text form of [`Scenario::parse`].
//!
//! Each one is small and named after what it pins. Common set-ups are text snippets
//! (`AB`: `a` = 16 KiB of pattern data open read-write in slot 0, `b` empty read-write in
//! slot 1). Every scenario runs on every pair of [`crate::env::PAIRS`]; the expected
//! results are whatever the real kernel answers — the suite asserts agreement, not values.

use crate::scenario::Scenario;

/// `a` (slot 0): 16 KiB of pattern 1; `b` (slot 1): empty. Both `O_RDWR`.
const AB: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 16384 pat1\nopen 1 b RDWR|CREAT|TRUNC\n";

/// `a` (slot 0): 32 MiB of pattern 7, written back (long enough for a byte copy of it to
/// take milliseconds, so a signal sent once the copy is under way lands during it).
const BIG: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 33554432 pat7\nfsync 0\n";

/// `AB` plus `x` (slot 2) on the other filesystem, 8 KiB of 0x78.
const ABX: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 16384 pat1\nopen 1 b RDWR|CREAT|TRUNC\nopen 2 other:x RDWR|CREAT|TRUNC\npwrite 2 0 8192 0x78\n";

/// `AB` plus a directory `d` open `O_RDONLY|O_DIRECTORY` in slot 3.
const ABD: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 16384 pat1\nopen 1 b RDWR|CREAT|TRUNC\nmkdir d\nopen 3 d RDONLY|DIRECTORY\n";

/// `a` (slot 0) and `b` (slot 1) with the same 16 KiB (0x61), for dedupe.
const SAME: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 16384 0x61\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 16384 0x61\n";

/// A sparse `a` (slot 0): data at 0–4 KiB and 12–16 KiB, a hole between, 20 KiB long with a
/// hole at the end.
const SPARSE: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 4096 pat2\npwrite 0 12288 4096 pat3\nftruncate 0 20480\n";

/// Path lookup: `f` a 1-byte file, `d` an empty directory, `e` a directory holding the
/// empty file `c`.
const FDE: &str = "open 5 f RDWR|CREAT|TRUNC\npwrite 5 0 1 0x66\nclose 5\nmkdir d\nmkdir e\nopen 5 e/c RDWR|CREAT|TRUNC\nclose 5\n";

/// `(name, what it pins, steps)`.
const TABLE: &[(&str, &str, &str)] = &[
    // ------------------------------------------------------------ copy_file_range
    (
        "cfr_basic",
        "copy_file_range with explicit offsets copies (and on btrfs/XFS shares) whole blocks",
        "$AB\ncopy_file_range 0 0 1 0 16384 0\npread 1 0 16384\nfiemap 1 0 16384 0",
    ),
    (
        "cfr_null_offsets_advance_positions",
        "NULL offsets use and advance both file positions",
        "$AB\nlseek 0 4096 SET\ncopy_file_range 0 NULL 1 NULL 8192 0\nlseek 0 0 CUR\nlseek 1 0 CUR\ncopy_file_range 0 NULL 1 NULL 65536 0",
    ),
    (
        "cfr_mixed_null_offset",
        "a NULL off_in with an explicit off_out: only the input position moves",
        "$AB\ncopy_file_range 0 NULL 1 8192 4096 0\nlseek 0 0 CUR\nlseek 1 0 CUR",
    ),
    (
        "cfr_flags_nonzero",
        "flags != 0 is EINVAL",
        "$AB\ncopy_file_range 0 0 1 0 4096 0x1",
    ),
    (
        "cfr_bad_fd_beats_flags",
        "a bad descriptor is checked before the flags",
        "$AB\ncopy_file_range fd:-1 0 1 0 4096 0x1\ncopy_file_range 0 0 fd:9999 0 4096 0x1",
    ),
    (
        "cfr_src_dir",
        "source is a directory: EISDIR",
        "$ABD\ncopy_file_range 3 0 1 0 4096 0",
    ),
    (
        "cfr_dst_dir",
        "destination is a directory (open read-only): EISDIR before EBADF",
        "$ABD\ncopy_file_range 0 0 3 0 4096 0",
    ),
    (
        "cfr_src_wronly",
        "source not open for reading: EBADF",
        "$AB\nopen 2 a WRONLY\ncopy_file_range 2 0 1 0 4096 0",
    ),
    (
        "cfr_dst_rdonly",
        "destination not open for writing: EBADF",
        "$AB\nopen 2 b RDONLY\ncopy_file_range 0 0 2 0 4096 0",
    ),
    (
        "cfr_dst_append",
        "O_APPEND destination: EBADF",
        "$AB\nopen 2 b WRONLY|APPEND\ncopy_file_range 0 0 2 0 4096 0\ncopy_file_range 0 NULL 2 NULL 4096 0",
    ),
    (
        "cfr_cross_fs",
        "different filesystems: EXDEV (Linux 5.19+)",
        "$ABX\ncopy_file_range 0 0 2 0 4096 0\ncopy_file_range 2 0 1 0 4096 0",
    ),
    (
        "cfr_cross_fs_and_append",
        "EBADF (O_APPEND) is checked before EXDEV",
        "$ABX\nopen 3 other:x WRONLY|APPEND\ncopy_file_range 0 0 3 0 4096 0",
    ),
    (
        "cfr_cross_fs_and_dir",
        "EISDIR is checked before EXDEV",
        "$ABX\nmkdir d\nopen 3 d RDONLY|DIRECTORY\ncopy_file_range 3 0 2 0 4096 0",
    ),
    (
        "cfr_negative_off_wraps",
        "a negative offset with len > 0 wraps as unsigned: EOVERFLOW",
        "$AB\ncopy_file_range 0 -4096 1 0 4096 0\ncopy_file_range 0 0 1 -1 4096 0",
    ),
    (
        "cfr_negative_off_no_wrap",
        "a negative offset that does not wrap reaches rw_verify_area: EINVAL",
        "$AB\ncopy_file_range 0 -8192 1 0 4096 0\ncopy_file_range 0 0 1 -8192 4096 0",
    ),
    (
        "cfr_negative_off_len0",
        "a negative offset with len 0: EINVAL (checked before 'nothing to do')",
        "$AB\ncopy_file_range 0 -1 1 0 0 0\ncopy_file_range 0 0 1 -1 0 0",
    ),
    (
        "cfr_len0",
        "len 0 copies nothing and returns 0",
        "$AB\ncopy_file_range 0 0 1 0 0 0\ncopy_file_range 0 NULL 1 NULL 0 0\nlseek 0 0 CUR",
    ),
    (
        "cfr_at_and_past_eof",
        "a source offset at or past EOF returns 0",
        "$AB\ncopy_file_range 0 16384 1 0 4096 0\ncopy_file_range 0 1000000 1 0 4096 0",
    ),
    (
        "cfr_shortened_to_eof",
        "a length past the source EOF is shortened",
        "$AB\ncopy_file_range 0 8192 1 0 1048576 0",
    ),
    (
        "cfr_len_wraps",
        "offset + len wrapping 64 bits: EOVERFLOW; from offset 0 the huge length is just shortened",
        "$AB\ncopy_file_range 0 4096 1 0 18446744073709551615 0\ncopy_file_range 0 0 1 0 18446744073709551615 0",
    ),
    (
        "cfr_xfs_io_wrapped_lengths",
        "the lengths xfs_io's cvtnum hands over unchecked (10e wraps to 0xa000000000000000, 8e to 2^63, -2): EOVERFLOW past 2^64 from a large destination offset, else shortened to the source's EOF",
        "$AB\ncopy_file_range 0 0 1 9223372036854000000 11529215046068469760 0\ncopy_file_range 0 0 1 0 9223372036854775808 0\ncopy_file_range 0 4096 1 8192 18446744073709551614 0\npread 1 9223372036854775807 1",
    ),
    (
        "cfr_same_file_overlap",
        "same file, overlapping ranges: EINVAL",
        "$AB\ncopy_file_range 0 0 0 4096 8192 0",
    ),
    (
        "cfr_same_file_disjoint",
        "same file, disjoint ranges: allowed (and grows the file)",
        "$AB\ncopy_file_range 0 0 0 16384 8192 0\ncopy_file_range 0 0 0 40960 4096 0",
    ),
    (
        "cfr_same_file_overlap_only_before_shortening",
        "the overlap test uses the length shortened to EOF",
        "$AB\ncopy_file_range 0 12288 0 16384 65536 0",
    ),
    (
        "cfr_efbig",
        "destination offset at s_maxbytes: EFBIG",
        "$AB\ncopy_file_range 0 0 1 9223372036854775807 1 0",
    ),
    (
        "cfr_unaligned_is_byte_copy",
        "unaligned offsets cannot share: the call byte-copies",
        "$AB\ncopy_file_range 0 100 1 100 8192 0\ncopy_file_range 0 4096 1 12388 4096 0",
    ),
    (
        "cfr_aligned_short_tail",
        "aligned offsets, length not a block multiple and not reaching EOF: the whole blocks only (a short count)",
        "$AB\ncopy_file_range 0 0 1 0 10000 0\ncopy_file_range 0 NULL 1 NULL 10000 0\ncopy_file_range 0 NULL 1 NULL 10000 0",
    ),
    (
        "cfr_eof_tail_past_dst_eof",
        "a range ending at an unaligned source EOF, landing at the destination EOF: all of it, shared",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat4\nopen 1 b RDWR|CREAT|TRUNC\ncopy_file_range 0 0 1 0 10000 0",
    ),
    (
        "cfr_eof_tail_inside_dst",
        "an unaligned source EOF landing inside destination data: the whole blocks, then the tail byte-copied",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat4\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 32768 0x62\ncopy_file_range 0 0 1 0 10000 0\ncopy_file_range 0 8192 1 8192 1808 0",
    ),
    (
        "cfr_past_dst_eof",
        "copying to far past the destination EOF leaves a hole",
        "$AB\ncopy_file_range 0 0 1 65536 8192 0\nlseek 1 0 DATA\nlseek 1 0 HOLE",
    ),
    (
        "cfr_sparse_source",
        "holes in the source: sharing keeps them, a byte copy fills them with zeroes",
        "$SPARSE\nopen 1 b RDWR|CREAT|TRUNC\ncopy_file_range 0 0 1 0 20480 0\nlseek 1 0 HOLE\nopen 2 c RDWR|CREAT|TRUNC\ncopy_file_range 0 1 2 1 20479 0",
    ),
    (
        "cfr_write_after_copy",
        "after a (sharing) copy, writing either file leaves the other unchanged",
        "$AB\ncopy_file_range 0 0 1 0 16384 0\npwrite 1 4096 4096 0x62\npwrite 0 8192 100 0x63\npread 0 0 16384\npread 1 0 16384",
    ),
    (
        "cfr_into_existing_data",
        "copying over existing data replaces exactly the range",
        "$AB\npwrite 1 0 32768 0x62\ncopy_file_range 0 4096 1 8192 8192 0",
    ),
    (
        "cfr_empty_source",
        "an empty source copies nothing",
        "open 0 a RDWR|CREAT|TRUNC\nopen 1 b RDWR|CREAT|TRUNC\ncopy_file_range 0 0 1 0 4096 0",
    ),
    (
        "cfr_unlinked_source",
        "an unlinked but open source still copies",
        "$AB\nunlink a\ncopy_file_range 0 0 1 0 16384 0\npread 1 0 16384",
    ),
    // ------------------------------------------------------------ FICLONE
    (
        "clone_whole",
        "FICLONE shares the whole file",
        "$AB\nficlone 1 0\npread 1 0 16384\nfiemap 0 0 16384 0",
    ),
    (
        "clone_bad_src_fd",
        "FICLONE with a bad source descriptor: EBADF",
        "$AB\nficlone 1 fd:-1\nficlone 1 fd:9999",
    ),
    (
        "clone_bad_dst_fd",
        "FICLONE on a bad descriptor: EBADF",
        "$AB\nficlone fd:-1 0",
    ),
    (
        "clone_cross_fs",
        "FICLONE across filesystems: EXDEV",
        "$ABX\nficlone 2 0\nficlone 1 2",
    ),
    (
        "clone_dst_rdonly",
        "destination open read-only: EBADF",
        "$AB\nopen 2 b RDONLY\nficlone 2 0",
    ),
    (
        "clone_dst_append",
        "O_APPEND destination: EBADF",
        "$AB\nopen 2 b WRONLY|APPEND\nficlone 2 0",
    ),
    (
        "clone_src_wronly",
        "source open write-only: EBADF",
        "$AB\nopen 2 a WRONLY\nficlone 1 2",
    ),
    (
        "clone_src_dir",
        "source is a directory: EISDIR",
        "$ABD\nficlone 1 3",
    ),
    (
        "clone_dst_dir",
        "destination is a directory: EISDIR",
        "$ABD\nficlone 3 0",
    ),
    (
        "clone_onto_itself",
        "FICLONE of a file onto itself: EINVAL",
        "$AB\nficlone 0 0",
    ),
    (
        "clone_empty_source",
        "FICLONE of an empty file onto a non-empty one: nothing happens",
        "open 0 a RDWR|CREAT|TRUNC\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 8192 0x62\nficlone 1 0",
    ),
    (
        "clone_onto_longer_file",
        "FICLONE onto a longer file replaces its head and keeps its size",
        "$AB\npwrite 1 0 65536 0x62\nficlone 1 0\npread 1 0 65536",
    ),
    (
        "clone_unaligned_size",
        "FICLONE of a file with an unaligned size (the tail block is shared)",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat5\nopen 1 b RDWR|CREAT|TRUNC\nficlone 1 0",
    ),
    (
        "clone_unaligned_size_onto_longer",
        "FICLONE of an unaligned-size file onto a longer one: the tail would land inside data: EINVAL",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat5\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 65536 0x62\nficlone 1 0",
    ),
    (
        "clone_small_file",
        "FICLONE of a small file (btrfs keeps it inline and copies instead of sharing)",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 1000 pat6\nfsync 0\nopen 1 b RDWR|CREAT|TRUNC\nficlone 1 0\npread 1 0 4096",
    ),
    // ------------------------------------------------------------ FICLONERANGE
    (
        "clonerange_basic",
        "FICLONERANGE of the middle blocks",
        "$AB\npwrite 1 0 32768 0x62\nficlonerange 1 0 4096 8192 8192",
    ),
    (
        "clonerange_unaligned_src_off",
        "an unaligned source offset: EINVAL (EOPNOTSUPP first where nothing can clone)",
        "$AB\nficlonerange 1 0 100 4096 0",
    ),
    (
        "clonerange_unaligned_dst_off",
        "an unaligned destination offset: EINVAL",
        "$AB\nficlonerange 1 0 0 4096 100",
    ),
    (
        "clonerange_unaligned_len_mid",
        "an unaligned length not reaching EOF: EINVAL",
        "$AB\nficlonerange 1 0 0 5000 0",
    ),
    (
        "clonerange_tail_to_eof_past_dst_eof",
        "an unaligned tail at the source EOF, landing past the destination EOF: allowed",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat4\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 4096 0x62\nficlonerange 1 0 4096 5904 4096\nficlonerange 1 0 0 10000 16384",
    ),
    (
        "clonerange_tail_inside_dst",
        "an unaligned tail at the source EOF landing inside destination data: EINVAL",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat4\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 65536 0x62\nficlonerange 1 0 0 10000 0\nficlonerange 1 0 8192 1808 8192",
    ),
    (
        "clonerange_len0_to_eof",
        "length 0 clones to the source EOF",
        "$AB\nficlonerange 1 0 4096 0 0\nficlonerange 1 0 0 0 32768",
    ),
    (
        "clonerange_len0_at_eof",
        "length 0 from exactly the source EOF: success, nothing cloned (even unaligned)",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 pat4\nopen 1 b RDWR|CREAT|TRUNC\nficlonerange 1 0 10000 0 0\nficlonerange 1 0 16384 0 0",
    ),
    (
        "clonerange_src_off_past_eof",
        "a source offset at or past EOF with a length: EINVAL",
        "$AB\nficlonerange 1 0 16384 4096 0\nficlonerange 1 0 65536 4096 0",
    ),
    (
        "clonerange_len_past_eof",
        "a range running past the source EOF: EINVAL (clone cannot shorten)",
        "$AB\nficlonerange 1 0 8192 16384 0",
    ),
    (
        "clonerange_same_file_overlap",
        "same file, overlapping ranges: EINVAL",
        "$AB\nficlonerange 0 0 0 8192 4096",
    ),
    (
        "clonerange_same_file_disjoint",
        "same file, disjoint ranges: allowed",
        "$AB\nficlonerange 0 0 0 4096 12288\nficlonerange 0 0 0 8192 32768",
    ),
    (
        "clonerange_dst_past_eof",
        "cloning far past the destination EOF leaves a hole before it",
        "$AB\npwrite 1 0 4096 0x62\nficlonerange 1 0 0 8192 65536\nlseek 1 4096 DATA",
    ),
    (
        "clonerange_huge_offset",
        "offsets above i64::MAX: EINVAL",
        "$AB\nficlonerange 1 0 9223372036854775808 4096 0\nficlonerange 1 0 0 4096 9223372036854775808",
    ),
    (
        "clonerange_huge_offset_cross_fs",
        "a huge offset and different filesystems at once: which wins",
        "$ABX\nficlonerange 2 0 9223372036854775808 4096 0",
    ),
    (
        "clonerange_cross_fs_and_unaligned",
        "different filesystems and an unaligned offset: EXDEV first",
        "$ABX\nficlonerange 2 0 100 4096 0",
    ),
    (
        "clonerange_append_and_unaligned",
        "an O_APPEND destination and an unaligned offset: EBADF first",
        "$AB\nopen 2 b WRONLY|APPEND\nficlonerange 2 0 100 4096 0",
    ),
    (
        "clonerange_dir_and_bad_src",
        "a directory destination and a bad source descriptor: EBADF first",
        "$ABD\nficlonerange 3 fd:-1 0 4096 0",
    ),
    (
        "clonerange_rdonly_src_is_fine",
        "the source may be open read-only",
        "$AB\nopen 2 a RDONLY\nficlonerange 1 2 0 8192 0",
    ),
    (
        "clonerange_wraps",
        "offset + length wrapping: EINVAL",
        "$AB\nficlonerange 1 0 4096 18446744073709547520 0",
    ),
    // ------------------------------------------------------------ after a clone
    (
        "write_after_clone_unshares_one_block",
        "a write to one block of a clone unshares only what the filesystem unshares",
        "$AB\nficlone 1 0\npwrite 1 4096 4096 0x62\nfiemap 0 0 16384 0\nfiemap 1 0 16384 0\npread 0 0 16384",
    ),
    (
        "write_after_clone_partial_block",
        "a sub-block write into a shared block",
        "$AB\nficlone 1 0\npwrite 0 5000 10 0x63\npread 1 0 16384",
    ),
    (
        "write_after_clone_whole_range",
        "overwriting every block of the copy",
        "$AB\nficlone 1 0\npwrite 1 0 16384 0x62",
    ),
    (
        "truncate_cloned_source",
        "shrinking the source of a clone leaves the copy intact",
        "$AB\nficlone 1 0\nftruncate 0 4096\nftruncate 0 10000\npread 1 0 16384",
    ),
    (
        "truncate_cloned_dst_unaligned",
        "an unaligned truncate of a shared block zeroes the tail in the copy only",
        "$AB\nficlone 1 0\nftruncate 1 6000\nftruncate 1 16384\npread 0 0 16384\npread 1 0 16384",
    ),
    (
        "punch_cloned",
        "punching a hole in a clone",
        "$AB\nficlone 1 0\nfallocate 1 0x3 4096 8192\nlseek 1 0 HOLE\nlseek 1 4096 DATA",
    ),
    (
        "punch_cloned_partial",
        "punching a partial block of a shared extent",
        "$AB\nficlone 1 0\nfallocate 1 0x3 1000 2000\npread 0 0 4096\npread 1 0 4096",
    ),
    (
        "unlink_clone_source",
        "deleting the source unshares the copy",
        "$AB\nficlone 1 0\nclose 0\nunlink a\nfsync 1",
    ),
    (
        "clone_twice",
        "three files sharing the same extent",
        "$AB\nficlone 1 0\nopen 2 c RDWR|CREAT\nficlone 2 1\npwrite 0 0 4096 0x64",
    ),
    (
        "clone_sparse_source",
        "holes in a cloned range stay holes",
        "$SPARSE\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 20480 0x62\nficlone 1 0\nlseek 1 0 HOLE\nlseek 1 4096 DATA",
    ),
    (
        "clone_preallocated_source",
        "cloning preallocated (unwritten) space",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 4096 pat2\nfallocate 0 0x0 4096 12288\nopen 1 b RDWR|CREAT|TRUNC\nficlone 1 0\nlseek 1 0 HOLE\npread 1 0 16384",
    ),
    (
        "falloc_keeps_inline_extent",
        "fallocate inside a small file's first sector: btrfs keeps the inline extent (growing only the size), so a clone copies it instead of sharing; elsewhere a plain allocation",
        "open 0 a RDWR|CREAT\npwrite 0 0 100 0x61\nfsync 0\nfallocate 0 0x0 0 4096\nopen 1 b RDWR|CREAT\nficlone 1 0\nlseek 1 0 HOLE\nopen 2 c RDWR|CREAT\npwrite 2 0 100 0x63\nfsync 2\nfallocate 2 0x1 0 4096\nficlonerange 1 2 0 0 8192",
    ),
    (
        "clone_preallocated_into_data",
        "cloning data, preallocated space and a hole over a file's data: btrfs shares the preallocated extent (unwritten), XFS remaps written extents only and leaves a hole there",
        "$AB\nfallocate 0 0 16384 16384\nftruncate 0 40960\npwrite 1 0 40960 0x62\nficlonerange 1 0 0 40960 0\nfiemap 1 0 40960 1\nlseek 1 0 DATA\nlseek 1 0 HOLE",
    ),
    (
        "clone_then_copy_back",
        "clone, change, copy back with copy_file_range",
        "$AB\nficlone 1 0\npwrite 1 8192 4096 0x62\ncopy_file_range 1 8192 0 8192 4096 0\npread 0 0 16384",
    ),
    // ------------------------------------------------------------ FIDEDUPERANGE
    (
        "dedupe_same",
        "equal ranges: SAME, and then shared",
        "$SAME\ndedupe 0 0 16384 1@0\nfiemap 1 0 16384 0",
    ),
    (
        "dedupe_differs",
        "different ranges: DIFFERS, nothing shared",
        "$AB\npwrite 1 0 16384 0x62\ndedupe 0 0 16384 1@0",
    ),
    (
        "dedupe_multiple_dests",
        "several destinations: SAME, DIFFERS, a bad descriptor, a directory",
        "$SAME\nopen 2 c RDWR|CREAT\npwrite 2 0 16384 0x62\nmkdir d\nopen 3 d RDONLY|DIRECTORY\ndedupe 0 0 8192 1@0 2@0 fd:-1@0 3@0 1@8192",
    ),
    (
        "dedupe_src_wronly",
        "source not open for reading: EINVAL for the whole call",
        "$SAME\nopen 2 a WRONLY\ndedupe 2 0 4096 1@0",
    ),
    (
        "dedupe_bad_src_fd",
        "a bad source descriptor: EBADF",
        "$SAME\ndedupe fd:-1 0 4096 1@0",
    ),
    (
        "dedupe_src_dir",
        "source is a directory: EISDIR",
        "$SAME\nmkdir d\nopen 3 d RDONLY|DIRECTORY\ndedupe 3 0 4096 1@0",
    ),
    (
        "dedupe_src_past_eof",
        "a source range past its EOF: EINVAL for the whole call",
        "$SAME\ndedupe 0 8192 16384 1@0",
    ),
    (
        "dedupe_dst_past_eof",
        "a destination range past its EOF: -EINVAL for that destination",
        "$SAME\ndedupe 0 0 8192 1@12288",
    ),
    (
        "dedupe_len0",
        "length 0: SAME with 0 bytes",
        "$SAME\ndedupe 0 0 0 1@0",
    ),
    (
        "dedupe_no_dests",
        "no destinations at all",
        "$SAME\ndedupe 0 0 4096",
    ),
    (
        "dedupe_unaligned",
        "unaligned offsets: -EINVAL per destination",
        "$SAME\ndedupe 0 100 4096 1@100",
    ),
    (
        "dedupe_cross_fs",
        "a destination on another filesystem: -EXDEV",
        "$SAME\nopen 2 other:x RDWR|CREAT\npwrite 2 0 16384 0x61\ndedupe 0 0 4096 2@0 1@0",
    ),
    (
        "dedupe_dst_rdonly",
        "a destination open read-only is allowed (the caller owns it)",
        "$SAME\nopen 2 b RDONLY\ndedupe 0 0 16384 2@0",
    ),
    (
        "dedupe_eof_tail",
        "unaligned EOF tails on both sides: deduped",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 0x61\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 10000 0x61\ndedupe 0 0 10000 1@0\nfiemap 1 0 10000 0",
    ),
    (
        "dedupe_eof_tail_not_at_dst_eof",
        "an unaligned source tail not at the destination EOF is rounded down",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 10000 0x61\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 20000 0x61\ndedupe 0 0 10000 1@0\nfiemap 1 0 20000 0",
    ),
    (
        "dedupe_same_file",
        "two equal ranges of one file",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 8192 0x61\npwrite 0 8192 8192 0x61\ndedupe 0 0 8192 0@8192\ndedupe 0 0 8192 0@4096",
    ),
    (
        "dedupe_then_write",
        "a write after a dedupe unshares",
        "$SAME\ndedupe 0 0 16384 1@0\npwrite 1 0 4096 0x62\npread 0 0 4096",
    ),
    (
        "dedupe_huge_len",
        "a huge length: EINVAL for the whole call",
        "$SAME\ndedupe 0 0 18446744073709551615 1@0",
    ),
    // ------------------------------------------------------------ SEEK_DATA / SEEK_HOLE
    (
        "seek_sparse",
        "SEEK_DATA/SEEK_HOLE walk a sparse file",
        "$SPARSE\nlseek 0 0 DATA\nlseek 0 0 HOLE\nlseek 0 4096 DATA\nlseek 0 12288 HOLE\nlseek 0 16384 DATA\nlseek 0 16384 HOLE\nlseek 0 5000 DATA",
    ),
    (
        "seek_negative",
        "a negative offset (btrfs treats it as 0; XFS and tmpfs say ENXIO)",
        "$SPARSE\nlseek 0 -1 DATA\nlseek 0 -1 HOLE\nlseek 0 -4096 DATA",
    ),
    (
        "seek_at_and_past_eof",
        "at or past EOF: ENXIO",
        "$SPARSE\nlseek 0 20480 DATA\nlseek 0 20480 HOLE\nlseek 0 99999 HOLE",
    ),
    (
        "seek_empty_file",
        "an empty file: ENXIO both ways",
        "open 0 a RDWR|CREAT|TRUNC\nlseek 0 0 DATA\nlseek 0 0 HOLE",
    ),
    (
        "seek_preallocated",
        "preallocated space is a hole",
        "open 0 a RDWR|CREAT|TRUNC\nfallocate 0 0x0 0 16384\nlseek 0 0 DATA\nlseek 0 0 HOLE\npwrite 0 8192 100 0x61\nlseek 0 0 DATA\nlseek 0 8192 HOLE",
    ),
    (
        "seek_keep_size",
        "KEEP_SIZE preallocation past EOF does not move EOF or data",
        "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 4096 0x61\nfallocate 0 0x1 4096 65536\nstat a\nlseek 0 0 HOLE\nlseek 0 4096 DATA",
    ),
    (
        "seek_bad_whence",
        "whence 5: EINVAL",
        "$SPARSE\nlseek 0 0 5",
    ),
    (
        "seek_truncated_up",
        "a file grown by ftruncate is one hole",
        "open 0 a RDWR|CREAT|TRUNC\nftruncate 0 65536\nlseek 0 0 HOLE\nlseek 0 0 DATA",
    ),
    (
        "seek_data_mid_block",
        "SEEK_DATA from inside a data block returns the offset itself",
        "$SPARSE\nlseek 0 100 DATA\nlseek 0 12300 DATA\nlseek 0 12300 HOLE",
    ),
    // ------------------------------------------------------------ fallocate
    (
        "falloc_punch_needs_keep_size",
        "PUNCH_HOLE without KEEP_SIZE: EOPNOTSUPP",
        "$AB\nfallocate 0 0x2 0 4096",
    ),
    (
        "falloc_punch",
        "PUNCH_HOLE|KEEP_SIZE makes a hole, partial blocks zeroed",
        "$AB\nfallocate 0 0x3 4096 4096\nfallocate 0 0x3 9000 100\nlseek 0 0 HOLE\npread 0 8192 4096",
    ),
    (
        "falloc_punch_past_eof",
        "punching past EOF changes nothing",
        "$AB\nfallocate 0 0x3 16384 65536\nstat a",
    ),
    (
        "falloc_extend",
        "mode 0 past EOF grows the file",
        "$AB\nfallocate 0 0x0 16384 8192\nstat a\nlseek 0 16384 DATA",
    ),
    (
        "falloc_bad_args",
        "len 0, a negative offset or length: EINVAL",
        "$AB\nfallocate 0 0x0 0 0\nfallocate 0 0x0 -1 4096\nfallocate 0 0x0 0 -4096",
    ),
    (
        "falloc_unknown_mode",
        "an unknown mode bit: EOPNOTSUPP",
        "$AB\nfallocate 0 0x100 0 4096",
    ),
    (
        "falloc_rdonly",
        "a read-only descriptor: EBADF",
        "$AB\nopen 2 a RDONLY\nfallocate 2 0x0 0 4096",
    ),
    (
        "falloc_bad_fd_and_len0",
        "a bad descriptor beats bad arguments",
        "$AB\nfallocate fd:-1 0x0 0 0",
    ),
    (
        "falloc_dir",
        "a directory: EBADF (it is open read-only)",
        "$ABD\nfallocate 3 0x0 0 4096",
    ),
    (
        "falloc_zero_range",
        "ZERO_RANGE (tmpfs: EOPNOTSUPP)",
        "$AB\nfallocate 0 0x10 4096 8192\npread 0 0 16384\nlseek 0 0 HOLE",
    ),
    (
        "falloc_punch_and_zero",
        "PUNCH_HOLE|ZERO_RANGE together: EOPNOTSUPP",
        "$AB\nfallocate 0 0x13 0 4096",
    ),
    (
        "falloc_collapse",
        "COLLAPSE_RANGE (btrfs, tmpfs: EOPNOTSUPP)",
        "$AB\nfallocate 0 0x8 4096 4096\nstat a\npread 0 0 16384",
    ),
    (
        "falloc_insert",
        "INSERT_RANGE (btrfs, tmpfs: EOPNOTSUPP)",
        "$AB\nfallocate 0 0x20 4096 4096\nstat a\npread 0 0 20480",
    ),
    (
        "falloc_unshare",
        "UNSHARE_RANGE after a clone",
        "$AB\nficlone 1 0\nfallocate 1 0x40 0 8192\npread 1 0 16384",
    ),
    // ------------------------------------------------------------ plain I/O
    (
        "append_pwrite_ignores_offset",
        "pwrite on an O_APPEND descriptor writes at EOF",
        "$AB\nopen 2 a WRONLY|APPEND\npwrite 2 0 100 0x7a\nstat a\nlseek 2 0 CUR",
    ),
    (
        "pread_past_eof",
        "pread at and past EOF returns 0 bytes; a negative offset is EINVAL",
        "$AB\npread 0 16384 10\npread 0 99999 10\npread 0 -1 10\npread fd:-1 -1 10",
    ),
    (
        "ftruncate_errors",
        "a negative length, a read-only descriptor (EINVAL), a bad descriptor",
        "$AB\nftruncate 0 -1\nopen 2 a RDONLY\nftruncate 2 0\nftruncate fd:-1 -1\nftruncate fd:-1 0",
    ),
    (
        "open_errors",
        "O_EXCL on an existing file, a directory for writing, O_DIRECTORY on a file",
        "$ABD\nopen 4 a RDWR|CREAT|EXCL\nopen 4 d RDWR\nopen 4 a RDONLY|DIRECTORY\nopen 4 nothere RDONLY\nopen 4 d RDONLY|CREAT",
    ),
    (
        "open_trunc_cloned",
        "O_TRUNC of a clone leaves the original",
        "$AB\nficlone 1 0\nopen 2 b RDWR|TRUNC\npread 0 0 16384",
    ),
    (
        "rename_over_clone",
        "renaming over a clone's source",
        "$AB\nficlone 1 0\nopen 2 c RDWR|CREAT\npwrite 2 0 4096 0x63\nrename c a\npread 0 0 16384",
    ),
    (
        "read_write_positions",
        "read/write move the position; write after lseek past EOF leaves a hole",
        "open 0 a RDWR|CREAT|TRUNC\nwrite 0 5000 pat7\nlseek 0 0 CUR\nlseek 0 0 SET\nread 0 4096\nread 0 4096\nlseek 0 20000 SET\nwrite 0 10 0x61\nlseek 0 0 HOLE",
    ),
    (
        "unlinked_open_file",
        "an unlinked file stays readable and writable through its descriptor",
        "$AB\nunlink a\npwrite 0 0 4096 0x62\npread 0 0 8192\nstat a",
    ),
    (
        "mkdir_and_nested",
        "files in a subdirectory; unlink of a directory: EISDIR",
        "mkdir d\nopen 0 d/a RDWR|CREAT\npwrite 0 0 8192 0x61\nopen 1 d/b RDWR|CREAT\nficlone 1 0\nunlink d\nmkdir d",
    ),
    // ------------------------------------------------------------ found by the random mode
    (
        "rnd_truncate_up_hole_eof_block",
        "growing a file whose unaligned EOF block is a hole: btrfs writes a zeroed block there (XFS does not)",
        "open 0 a RDWR|CREAT\nftruncate 0 1\npwrite 0 4096 1 0x61\nopen 1 b RDWR|CREAT\nftruncate 1 5000\nftruncate 1 16384",
    ),
    (
        "rnd_punch_partial_preallocated",
        "punching part of a preallocated block: btrfs writes zeroes into it, XFS leaves it unwritten",
        "open 0 a RDWR|CREAT\nfallocate 0 0x0 0 1\nfallocate 0 0x3 0 1\nfallocate 0 0x0 4096 8192\nfallocate 0 0x3 5000 100",
    ),
    (
        "rnd_extend_write_is_one_extent",
        "a write past an unaligned EOF and the zeroed EOF block are one btrfs extent (per-extent SHARED)",
        "open 0 a RDWR|CREAT\nopen 1 b RDWR|CREAT\npwrite 0 0 8451 0x61\npwrite 0 12288 57344 0x61\ncopy_file_range 0 45056 1 0 4096 0",
    ),
    (
        "rnd_clone_into_hole_only_small_file",
        "cloning a tiny file's EOF block past its own EOF (btrfs makes the zeroed file inline first)",
        "open 1 b RDWR|CREAT\nftruncate 1 1\ncopy_file_range 1 0 1 4096 1 0",
    ),
    (
        "rnd_insert_range_shared_eof_block",
        "INSERT_RANGE grows the file first: XFS copies a shared EOF block on write",
        "open 0 a RDWR|CREAT\nopen 2 c RDWR|CREAT\npwrite 2 0 1 0x61\nficlonerange 0 2 0 0 0\nfallocate 0 0x20 0 4096",
    ),
    (
        "rnd_falloc_twice_tmpfs",
        "fallocate over space an earlier fallocate left unwritten: tmpfs initialises it (SEEK_DATA sees data)",
        "open 2 c RDWR|CREAT\nfallocate 2 0x1 0 26624\nfallocate 2 0x0 0 36864\nlseek 2 24576 DATA\nlseek 2 0 DATA",
    ),
    (
        "rnd_pread_write_verify_area",
        "pread/pwrite with pos + count past LLONG_MAX: EINVAL (rw_verify_area)",
        "open 0 a RDWR|CREAT\npread 0 9223372036854775807 1\npwrite 0 9223372036854775807 1 0x61\npread 0 9223372036854775807 0",
    ),
    (
        "rnd_empty_append_write_keeps_position",
        "a zero-length write on an O_APPEND descriptor returns before moving the position to EOF (generic_write_checks)",
        "open 0 a RDWR|CREAT\nopen 1 b RDWR|CREAT\npwrite 0 0 1 0x61\ncopy_file_range 0 0 1 0 1 0\nopen 3 b WRONLY|APPEND\nwrite 3 0 0x62\nwrite 3 1 0x62\nwrite 3 0 0x62",
    ),
    (
        "rnd_write_into_shared_preallocated_extent",
        "writing into preallocated space whose extent another file shares part of: btrfs copies on write (the extent is shared as a whole), XFS and the others write in place",
        "open 0 a RDWR|CREAT\nopen 1 b RDWR|CREAT\nfallocate 0 0x0 0 8192\ncopy_file_range 0 0 1 0 4096 0\ncopy_file_range 1 0 0 4096 1 0\nfiemap 0 0 8192 1",
    ),
    (
        "rnd_open_rdonly_trunc",
        "O_RDONLY|O_TRUNC truncates an existing file",
        "open 0 a RDWR|CREAT\npwrite 0 0 1 0x61\nopen 3 a RDONLY|TRUNC\npread 3 0 10",
    ),
    (
        "rnd_lseek_end_overflow",
        "SEEK_END/SEEK_CUR past LLONG_MAX wrap negative: EINVAL",
        "open 1 b RDWR|CREAT\nftruncate 1 1\nlseek 1 9223372036854775807 END\nlseek 1 9223372036854775807 SET\nlseek 1 1 CUR",
    ),
    (
        "rnd_fiemap_dir_and_xattr",
        "FIEMAP of a directory: EOPNOTSUPP; FIEMAP_FLAG_XATTR: XFS maps the (empty) attribute fork, btrfs says EBADR",
        "mkdir d\nopen 5 d RDONLY|DIRECTORY\nfiemap 5 0 4096 0\nopen 2 c RDWR|CREAT\npwrite 2 0 8192 0x61\nfiemap 2 0 8192 0x2\nfiemap 2 0 8192 0x4\nfiemap 2 0 0 0x2",
    ),
    (
        "rnd_cow_of_unlinked_open_file",
        "a copy-on-write in an unlinked but open file unshares its clone",
        "open 0 a RDWR|CREAT\nopen 2 c RDWR|CREAT\npwrite 0 0 1 0x61\nunlink a\nficlone 2 0\npwrite 0 0 1 0x61",
    ),
    (
        "rnd_truncate_up_inline",
        "growing a small inline btrfs file past max_inline turns it into a regular (shareable) extent",
        "open 1 b RDWR|CREAT\nwrite 1 1 0x62\nftruncate 1 3984\ncopy_file_range 1 0 1 4096 4096 0\nopen 2 c RDWR|CREAT\nwrite 2 1 0x62\nftruncate 2 1000\nopen 3 d RDWR|CREAT\nficlone 3 2",
    ),
    (
        "rnd_unshare_allocates",
        "UNSHARE_RANGE also allocates the range's holes (unwritten), even on XFS without reflink",
        "open 1 b RDWR|CREAT\nfallocate 1 0x40 0 1\ncopy_file_range 1 0 1 4096 1 0\nlseek 1 0 HOLE\nopen 2 c RDWR|CREAT\npwrite 2 0 4096 0x61\nfallocate 2 0x40 0 16384\nlseek 2 0 HOLE\nstat c",
    ),
    (
        "rnd_seek_after_reading_unwritten",
        "XFS counts read (page-cached) unwritten blocks as data for SEEK_DATA; btrfs and tmpfs do not",
        "open 0 a RDWR|CREAT\nfallocate 0 0x0 0 16384\npread 0 4096 100\nlseek 0 0 DATA\nlseek 0 4096 HOLE\nfallocate 0 0x3 4096 4096\nlseek 0 0 DATA",
    ),
    (
        "punch_hole_made_by_clone",
        "punching from a hole a clone made: btrfs looks the hole up for round_down(start) + round_up(len) bytes and zeroes the block after that with a real write (a hole from a write past EOF is skipped whole); XFS and tmpfs keep holes",
        "open 0 a RDWR|CREAT\nopen 1 b RDWR|CREAT\npwrite 1 8192 4096 0x61\nficlone 0 1\nfallocate 0 0x3 93 4024\nfallocate 1 0x3 93 4024\nopen 2 c RDWR|CREAT\npwrite 2 16384 4096 0x62\nficlonerange 1 2 0 0 0\nfallocate 1 0x3 1 8192",
    ),
    (
        "punch_hole_made_by_clone_after_read_ahead",
        "a read caches btrfs's extent maps for what it reads ahead (4 blocks from offset 0): a punch there skips the hole a clone made, one past it zeroes a block",
        "open 0 a RDWR|CREAT\nopen 1 b RDWR|CREAT\npwrite 1 0 4096 0x61\npwrite 1 36864 4096 0x61\nficlone 0 1\npread 0 0 4096\nfallocate 0 0x3 4097 4096\nfallocate 0 0x3 16385 4096\nfallocate 0 0x3 12289 4096\nfallocate 0 0x3 1 8192",
    ),
    // ------------------------------------------------------------ path lookup
    // `$FDE`: `f` a file, `d` an empty directory, `e` a directory holding the file `c`;
    // `n` never exists. Paths are absolute in the scenario's directory, so `.` and `..`
    // stand for what `rmdir .` and `rmdir ..` are in it.
    (
        "path_open_creat_trailing_slash",
        "open(O_CREAT) of a name with a trailing slash is EISDIR, checked before anything about the name: no file is created",
        "$FDE\nopen 0 n/ WRONLY|CREAT\nopen 0 n/ WRONLY|CREAT|EXCL\nopen 0 f/ WRONLY|CREAT\nopen 0 d/ RDONLY|CREAT\nopen 0 d/ RDONLY|CREAT|EXCL\nopen 0 {y*256}/ WRONLY|CREAT\nstat n",
    ),
    (
        "path_open_trailing_slash",
        "without O_CREAT a trailing slash asks for a directory: ENOTDIR after a file, ENOENT for nothing",
        "$FDE\nopen 0 f/ RDONLY\nopen 0 f// RDONLY\nopen 0 f/ RDONLY|TRUNC\nopen 0 f/ WRONLY|DIRECTORY\nopen 0 n/ RDONLY\nopen 0 d/ RDONLY\nopen 1 d// RDONLY\nopen 2 d/ WRONLY\nstat f/\nstat n/\nstat d/",
    ),
    (
        "path_open_creat_dot",
        "open(O_CREAT) of ., .. or the directory: EEXIST with O_EXCL, else EISDIR; n/. is ENOENT",
        "$FDE\nopen 0 d/. RDONLY|CREAT\nopen 0 d/. RDONLY|CREAT|EXCL\nopen 0 d/.. RDONLY|CREAT\nopen 0 d RDONLY|CREAT\nopen 0 d RDONLY|CREAT|EXCL\nopen 0 n/. WRONLY|CREAT\nopen 0 d/. RDONLY\nopen 1 d/. WRONLY",
    ),
    (
        "path_dotdot_is_walked",
        "`..` steps out of what was walked into: after a file ENOTDIR, after nothing ENOENT (never dropped with the name before it)",
        "$FDE\nopen 0 f/.. RDONLY\nopen 0 f/. RDONLY\nopen 0 f/../f RDONLY\nopen 0 f/./ RDONLY\nopen 0 n/.. RDONLY\nopen 0 n/../f RDONLY\nopen 0 d/../f RDONLY\nstat f/..\nstat n/..\nstat e/../e/c",
    ),
    (
        "path_unlink_trailing_slash_and_dots",
        "unlink of a file with a trailing slash is ENOTDIR (the file stays); of a directory EISDIR; of . or .. EISDIR",
        "$FDE\nunlink f/\nunlink f//\nunlink n/\nunlink d/\nunlink d\nunlink d/.\nunlink d/..\nunlink f/.\nunlink n/.\nunlink .\nstat f\nunlink f",
    ),
    (
        "path_rmdir_dots",
        "rmdir of . is EINVAL, of .. ENOTEMPTY, before the directory is even looked at; a trailing slash is fine",
        "$FDE\nrmdir d/.\nrmdir d/..\nrmdir .\nrmdir ..\nrmdir e/.\nrmdir f/\nrmdir f\nrmdir f/.\nrmdir n/\nrmdir n/.\nrmdir n/..\nrmdir e\nstat d\nrmdir d/",
    ),
    (
        "path_mkdir_trailing_slash_and_dots",
        "mkdir takes a trailing slash; ., .. and an existing name are EEXIST; n/. ENOENT; a file as parent ENOTDIR",
        "$FDE\nmkdir g/\nmkdir f/\nmkdir d/\nmkdir d/.\nmkdir d/..\nmkdir n/.\nmkdir f/x\nstat g",
    ),
    (
        "path_rename_dots",
        "rename from or to a path ending in . or .. is EBUSY, once both parents resolve (a missing parent is ENOENT first)",
        "$FDE\nrename d/. h\nrename d/.. h\nrename d e/.\nrename d e/..\nrename f d/.\nrename n d/.\nrename d/. f\nrename d/ d/.\nrename d h/.\nrename d/. n/x\nrename n/x d/.\nrename f/. h\nstat d\nstat h",
    ),
    (
        "path_rename_trailing_slash",
        "a trailing slash on either side of a rename asks for a directory source: ENOTDIR for a file; a directory moves",
        "$FDE\nrename f/ g\nrename f g/\nrename f d/\nrename f e/c/\nrename e/c/ e/c\nrename f/ f\nrename n/ g\nrename d d/\nrename d/ g/\nstat g\nstat f",
    ),
    (
        "path_rename_ancestors",
        "renaming over an ancestor of the source is ENOTEMPTY; a directory into itself EINVAL",
        "$FDE\nrename e/c e\nrename e/c .\nmkdir d/x\nrename d/x d\nrename d d/x/y\nrename d/x d/x/y\nstat e/c",
    ),
    (
        "path_rename_xdev_first",
        "EXDEV is checked before EBUSY and ENOTDIR, after both parents resolve",
        "$FDE\nrename d/. other:h\nrename f/ other:h\nrename f other:.\nrename f other:n/h\nrename n other:h",
    ),
    (
        "path_empty",
        "the empty path is ENOENT for every call",
        "$FDE\nopen 0 \"\" RDONLY\nopen 0 \"\" WRONLY|CREAT\nstat \"\"\nunlink \"\"\nrmdir \"\"\nmkdir \"\"\nrename \"\" h\nrename f \"\"\nstat f",
    ),
    (
        "path_name_too_long",
        "a name of 256 bytes is ENAMETOOLONG where it is looked up (after a missing or non-directory component before it); 255 bytes are fine",
        "$FDE\nopen 0 {y*256} WRONLY|CREAT\nopen 0 {y*256} RDONLY\nopen 0 {y*256}/n RDONLY\nopen 0 n/{y*256} RDONLY\nopen 0 f/{y*256} RDONLY\nmkdir {y*256}\nunlink {y*256}\nrmdir {y*256}\nrename f {y*256}\nrename f/ {y*256}\nrename n {y*256}\nrename {y*256} h\nstat {y*256}\nopen 1 {y*255} WRONLY|CREAT\nstat {y*255}",
    ),
    (
        "path_too_long",
        "a path of 4096 bytes or more (PATH_MAX, counting the NUL) is ENAMETOOLONG before any lookup; just under it works",
        "$FDE\nopen 0 {./*2040}f RDONLY\nopen 1 {./*2050}f RDONLY\nopen 1 n{/*4100} WRONLY|CREAT\nstat {./*2050}f\nunlink {./*2050}f\nrmdir {./*2050}d\nmkdir {./*2050}g\nrename {./*2050}f h\nrename f {./*2050}h\nrename n {./*2050}h\nstat f",
    ), // ------------------------------------------------------------ signals (real SIGUSR2)
    (
        "sig_copy_partial_prefix",
        "a signal (handler without SA_RESTART) during a 32 MiB copy into an empty file: a byte copy (XFS reflink=0, tmpfs) returns a partial count and the destination holds exactly that prefix; a sharing copy (btrfs, XFS reflink=1) returns the full count",
        "$BIG\nopen 1 b RDWR|CREAT|TRUNC\ncopy_file_range_sig 0 0 1 0 33554432 1",
    ),
    (
        "sig_copy_over_data_changes_only_prefix",
        "a signal during a byte copy over existing data: the partial count's prefix is copied and the rest of the destination is unchanged (every filesystem: the offsets are not block-congruent, so btrfs and XFS reflink=1 copy bytes too)",
        "$BIG\nopen 1 b RDWR|CREAT|TRUNC\npwrite 1 0 33562624 0x62\ncopy_file_range_sig 0 4096 1 100 33554432 1",
    ),
    (
        "sig_copy_unaligned_interrupted",
        "a signal during an unaligned copy into an empty file: byte copy on every filesystem, a partial count with exactly that prefix",
        "$BIG\nopen 1 b RDWR|CREAT|TRUNC\ncopy_file_range_sig 0 1 1 0 33554431 3",
    ),
    (
        "sig_copy_cross_fs_exdev",
        "a signalled copy to the other filesystem of the same kind: EXDEV before anything moves (no filesystem here has its own copy_file_range, so Linux 6.18 refuses copies across super blocks)",
        "$BIG\nopen 1 other:b RDWR|CREAT|TRUNC\ncopy_file_range_sig 0 0 1 0 33554432 1",
    ),
    (
        "sig_copy_small_completes",
        "a copy of one chunk (64 KiB) with a signal sent as it runs: it completes (the signal is checked only between chunks)",
        "$AB\npwrite 0 0 65536 pat4\ncopy_file_range_sig 0 0 1 0 65536 1",
    ),
    (
        "sig_copy_errors_first",
        "the signalled call still checks its arguments first: a bad descriptor is EBADF, a read-only destination EBADF",
        "$AB\ncopy_file_range_sig fd:-1 0 1 0 4096 1\nopen 2 b RDONLY\ncopy_file_range_sig 0 0 2 0 4096 1",
    ),
];

/// The `ENOSPC` scenarios: each on its own small filesystem, filled with `fill-up`, the last
/// step compared by errno only.
const ENOSPC: &[(&str, &str, &str)] = &[
    (
        "enospc_overwrite_shared",
        "on a full filesystem, overwriting a shared block needs new space (ENOSPC on btrfs and XFS)",
        "$AB\nficlone 1 0\nfsync 1\nopen 2 fill RDWR|CREAT\nfill-up 2\nfsync 2\npwrite 1 0 4096 0x62 !errno-only",
    ),
    (
        "enospc_overwrite_unshared",
        "on a full filesystem, overwriting an unshared block: XFS and tmpfs write in place, btrfs copies on write (ENOSPC)",
        "$AB\nfsync 0\nopen 2 fill RDWR|CREAT\nfill-up 2\nfsync 2\npwrite 0 0 4096 0x62 !errno-only",
    ),
    (
        "enospc_write_new_block",
        "on a full filesystem, a write into a hole fails everywhere",
        "$AB\nfsync 0\nopen 2 fill RDWR|CREAT\nfill-up 2\nfsync 2\npwrite 0 65536 65536 0x62 !errno-only",
    ),
    (
        "enospc_short_write_in_place",
        "on a full filesystem, a write over a file's 16 KiB and on past its EOF: XFS and tmpfs overwrite the 16 KiB in place and return that short count; btrfs copies on write: ENOSPC, nothing written",
        "$AB\nfsync 0\nopen 2 fill RDWR|CREAT\nfill-up 2\nfsync 2\npwrite 0 0 81920 0x62",
    ),
    (
        "enospc_small_write_into_empty_file",
        "on a full filesystem, 1326 bytes into an empty file (created before the fill-up: XFS cannot allocate an inode after it): ENOSPC everywhere, btrfs too, which reserves data space before write-back decides to inline them",
        "$AB\nopen 3 c RDWR|CREAT\nfsync 0\nopen 2 fill RDWR|CREAT\nfill-up 2\nfsync 2\npwrite 3 0 1326 pat1",
    ),
    (
        "enospc_short_write_into_hole",
        "64 KiB freed on a full filesystem, then 1 MiB written into a hole: btrfs and tmpfs write the 64 KiB and return that short count; XFS reserves the whole hole at once: ENOSPC, nothing written",
        "$AB\nopen 3 c RDWR|CREAT|TRUNC\npwrite 3 0 65536 0x63\nfsync 0\nfsync 3\nopen 2 fill RDWR|CREAT\nfill-up 2\nfsync 2\nftruncate 3 0\nfsync 3\nsync\npwrite 1 0 1048576 0x64",
    ),
];

/// `a` (slot 0): 64 KiB of 0x61; `b` (slot 1): empty; both durable (`sync`).
const PC: &str =
    "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 65536 0x61\nopen 1 b RDWR|CREAT|TRUNC\nsync\n";

/// `PC` plus `x` (slot 2), 4 KiB of 0x78, durable: the unrelated file whose fsync is
/// tried.
const PCX: &str = "open 0 a RDWR|CREAT|TRUNC\npwrite 0 0 65536 0x61\nopen 1 b RDWR|CREAT|TRUNC\nopen 2 x RDWR|CREAT|TRUNC\npwrite 2 0 4096 0x78\nsync\n";

/// Power-cut scenarios: what the kernel's log recovery keeps is one of the states the
/// model permits, and everything fsynced is kept. The extended splice's semantics map to
/// today's calls here: never-share is a read+write copy (`pwrite` of the same bytes),
/// may-share is `copy_file_range`, must-share is `FICLONERANGE`.
const POWER_CUT: &[(&str, &str, &str)] = &[
    // ------------------------------------------------------------ data writes
    (
        "pc_unsynced_overwrite_is_lost",
        "an overwrite never fsynced is lost: the old data comes back",
        "$PC\npwrite 0 0 4096 0x7a\npower-cut",
    ),
    (
        "pc_unsynced_write_into_empty_file_is_lost",
        "a write into a durable empty file, never fsynced: the file is empty again",
        "$PC\npwrite 1 0 65536 0x62\npower-cut",
    ),
    (
        "pc_unsynced_new_file_is_absent",
        "a new file written and never fsynced does not exist after the power cut",
        "$PC\nopen 2 c RDWR|CREAT\npwrite 2 0 65536 0x63\npower-cut",
    ),
    (
        "pc_fsync_keeps_the_write",
        "after fsync the write survives",
        "$PC\npwrite 1 0 65536 0x62\nfsync 1\npower-cut",
    ),
    (
        "pc_sync_keeps_everything",
        "sync makes every change of every file durable",
        "$PC\npwrite 1 0 8192 0x62\nopen 2 c RDWR|CREAT\npwrite 2 0 4096 0x63\nftruncate 0 4096\nsync\npower-cut",
    ),
    (
        "pc_fsync_of_new_file_keeps_its_name",
        "fsync of a new file makes its name durable too",
        "$PC\nopen 2 c RDWR|CREAT\npwrite 2 0 4096 0x63\nfsync 2\npower-cut",
    ),
    (
        "pc_fsync_of_new_file_in_new_directory",
        "fsync of a new file in a new directory makes both durable",
        "$PC\nmkdir n\nopen 2 n/f RDWR|CREAT\npwrite 2 0 4096 0x66\nfsync 2\npower-cut\nstat n",
    ),
    (
        "pc_two_power_cuts",
        "a second power cut after recovery: only what was fsynced since survives",
        "$PC\npwrite 1 0 8192 0x62\nfsync 1\npower-cut\nopen 1 b RDWR\npwrite 1 8192 8192 0x63\npower-cut",
    ),
    // ------------------------------------------------------------ never-share (byte copy)
    (
        "pc_byte_copy_then_fsync_source_only",
        "a byte copy into b, then fsync of the (changed) source only: b's data is not durable",
        "$PC\npwrite 1 0 65536 0x61\npwrite 0 65536 4096 0x61\nfsync 0\npower-cut",
    ),
    (
        "pc_byte_copy_then_fsync_clean_source",
        "a byte copy into b, then fsync of the unchanged source: nothing is forced",
        "$PC\npwrite 1 0 65536 0x61\nfsync 0\npower-cut",
    ),
    (
        "pc_byte_copy_then_fsync_destination",
        "a byte copy into b, then fsync of b: the copy survives",
        "$PC\npwrite 1 0 65536 0x61\nfsync 1\npower-cut",
    ),
    (
        "pc_byte_copy_then_fsync_unrelated",
        "a byte copy into b, then fsync of a changed unrelated file: b's data is not durable",
        "$PCX\npwrite 1 0 65536 0x61\npwrite 2 4096 4096 0x78\nfsync 2\npower-cut",
    ),
    (
        "pc_byte_copy_into_new_file_then_fsync_unrelated",
        "a byte copy into a new file, fsync of another: the new file is absent (btrfs) or empty (XFS)",
        "$PCX\nopen 3 c RDWR|CREAT\npwrite 3 0 65536 0x61\npwrite 2 4096 4096 0x78\nfsync 2\npower-cut",
    ),
    // ------------------------------------------------------------ may-share (copy_file_range)
    (
        "pc_copy_file_range_unsynced",
        "copy_file_range never fsynced is lost",
        "$PC\ncopy_file_range 0 0 1 0 65536 0\npower-cut",
    ),
    (
        "pc_copy_file_range_then_fsync_destination",
        "copy_file_range then fsync of the destination: the copy survives (shared on btrfs and XFS)",
        "$PC\ncopy_file_range 0 0 1 0 65536 0\nfsync 1\npower-cut",
    ),
    (
        "pc_copy_file_range_then_fsync_source",
        "copy_file_range then fsync of the source: XFS carries the clone (the source gained its reflink flag), btrfs does not",
        "$PC\ncopy_file_range 0 0 1 0 65536 0\nfsync 0\npower-cut",
    ),
    (
        "pc_copy_file_range_then_fsync_unrelated",
        "copy_file_range then fsync of a changed unrelated file",
        "$PCX\ncopy_file_range 0 0 1 0 65536 0\npwrite 2 0 4096 0x79\nfsync 2\npower-cut",
    ),
    (
        "pc_copy_file_range_then_sync",
        "copy_file_range then sync: the copy survives",
        "$PC\ncopy_file_range 0 0 1 0 65536 0\nsync\npower-cut",
    ),
    // ------------------------------------------------------------ must-share (clones)
    (
        "pc_ficlone_unsynced",
        "FICLONE never fsynced is lost",
        "$PC\nficlone 1 0\npower-cut",
    ),
    (
        "pc_ficlone_then_fsync_destination",
        "FICLONE then fsync of the destination: the clone survives, shared",
        "$PC\nficlone 1 0\nfsync 1\npower-cut",
    ),
    (
        "pc_ficlone_then_fsync_source",
        "the first FICLONE from a file, then fsync of the source",
        "$PC\nficlone 1 0\nfsync 0\npower-cut",
    ),
    (
        "pc_second_ficlone_then_fsync_source",
        "a later FICLONE from an already-cloned source, then fsync of the source: nothing is forced",
        "$PC\nficlone 1 0\nsync\nopen 2 c RDWR|CREAT\nficlone 2 0\nfsync 0\npower-cut",
    ),
    (
        "pc_ficlone_then_fsync_unrelated",
        "FICLONE then fsync of a changed unrelated file: XFS forces the whole log, btrfs logs that file only",
        "$PCX\nficlone 1 0\npwrite 2 0 4096 0x79\nfsync 2\npower-cut",
    ),
    (
        "pc_ficlonerange_unsynced",
        "FICLONERANGE never fsynced is lost",
        "$PC\nficlonerange 1 0 0 32768 0\npower-cut",
    ),
    (
        "pc_ficlonerange_then_fsync_destination",
        "FICLONERANGE then fsync of the destination",
        "$PC\nficlonerange 1 0 0 32768 16384\nfsync 1\npower-cut",
    ),
    (
        "pc_ficlonerange_then_sync",
        "FICLONERANGE then sync",
        "$PC\nficlonerange 1 0 16384 32768 0\nsync\npower-cut",
    ),
    (
        "pc_overwrite_after_clone_unsynced",
        "clone made durable, then an overwrite of the clone never fsynced: the clone comes back, still shared",
        "$PC\nficlone 1 0\nfsync 1\npwrite 1 0 4096 0x7a\npower-cut",
    ),
    (
        "pc_overwrite_after_clone_fsynced",
        "clone, overwrite of the clone, fsync of the clone: both survive",
        "$PC\nficlone 1 0\npwrite 1 0 4096 0x7a\nfsync 1\npower-cut",
    ),
    (
        "pc_clone_over_written_destination_then_fsync_source",
        "b holds fsynced data, a clone replaces it, fsync of the source",
        "$PC\npwrite 1 0 8192 0x62\nfsync 1\nficlone 1 0\npwrite 0 65536 4096 0x61\nfsync 0\npower-cut",
    ),
    // ------------------------------------------------------------ dedupe
    (
        "pc_dedupe_unsynced",
        "dedupe of equal durable files, never fsynced: the files read the same either way",
        "$PC\npwrite 1 0 65536 0x61\nsync\ndedupe 0 0 65536 1@0\npower-cut",
    ),
    (
        "pc_dedupe_then_fsync_destination",
        "dedupe then fsync of the destination: the sharing is durable",
        "$PC\npwrite 1 0 65536 0x61\nsync\ndedupe 0 0 65536 1@0\nfsync 1\npower-cut",
    ),
    // ------------------------------------------------------------ namespace
    (
        "pc_unlink_unsynced",
        "an unlink never made durable: the file is back",
        "$PCX\nunlink x\npower-cut",
    ),
    (
        "pc_unlink_then_fsync_other",
        "an unlink, then fsync of another changed file: XFS forces it, btrfs does not",
        "$PCX\nunlink x\npwrite 0 0 4096 0x7a\nfsync 0\npower-cut",
    ),
    (
        "pc_unlink_of_logged_file_then_fsync_other",
        "x fsynced (btrfs: in the log), unlinked, then fsync of another file: gone everywhere",
        "$PCX\npwrite 2 0 4096 0x79\nfsync 2\nunlink x\npwrite 0 0 4096 0x7a\nfsync 0\npower-cut",
    ),
    (
        "pc_rename_unsynced",
        "a rename never made durable: the old name is back",
        "$PCX\nrename x y\npower-cut",
    ),
    (
        "pc_rename_then_fsync_renamed",
        "a rename, then fsync of the renamed file: the new name is durable",
        "$PCX\nrename x y\nfsync 2\npower-cut",
    ),
    (
        "pc_rename_then_fsync_other",
        "a rename, then fsync of another changed file",
        "$PCX\nrename x y\npwrite 0 0 4096 0x7a\nfsync 0\npower-cut",
    ),
    (
        "pc_rename_over_with_unsynced_data_then_fsync_other",
        "replace-via-rename without fsync of the new file, then fsync of another: XFS leaves an empty file",
        "$PCX\nopen 3 t RDWR|CREAT\npwrite 3 0 4096 0x74\nrename t x\npwrite 0 0 4096 0x7a\nfsync 0\npower-cut",
    ),
    (
        "pc_create_then_fsync_other",
        "a new empty file, then fsync of another changed file",
        "$PC\nopen 2 c RDWR|CREAT\npwrite 0 0 4096 0x7a\nfsync 0\npower-cut",
    ),
    (
        "pc_create_then_fsync_clean_file",
        "a new file, then fsync of an unchanged file: nothing is forced",
        "$PC\nopen 2 c RDWR|CREAT\nfsync 0\npower-cut",
    ),
    (
        "pc_mkdir_and_create_then_fsync_other",
        "a new directory with a new file, then fsync of another changed file",
        "$PC\nmkdir k\nopen 2 k/f RDWR|CREAT\npwrite 0 0 4096 0x7a\nfsync 0\npower-cut\nstat k",
    ),
    // ------------------------------------------------------------ size changes
    (
        "pc_truncate_shrink_then_fsync_other",
        "a shrinking truncate of a durable file, then fsync of another changed file",
        "$PCX\nftruncate 0 4096\npwrite 2 0 4096 0x79\nfsync 2\npower-cut",
    ),
    (
        "pc_truncate_grow_then_fsync_other",
        "a growing truncate, then fsync of another changed file",
        "$PCX\nftruncate 0 1048576\npwrite 2 0 4096 0x79\nfsync 2\npower-cut",
    ),
    (
        "pc_truncate_then_fsync_self",
        "a truncate to zero, then fsync of the file",
        "$PC\nftruncate 0 0\nfsync 0\npower-cut",
    ),
    (
        "pc_write_then_truncate_grow_then_fsync_other",
        "unsynced data, then a growing truncate (logged), then fsync of another: the size without the data",
        "$PCX\npwrite 1 0 8192 0x62\nftruncate 1 65536\npwrite 2 0 4096 0x79\nfsync 2\npower-cut",
    ),
    (
        "pc_fallocate_then_fsync_other",
        "fallocate of an empty file, then fsync of another changed file",
        "$PCX\nfallocate 1 0 0 65536\npwrite 2 0 4096 0x79\nfsync 2\npower-cut",
    ),
    (
        "pc_fallocate_then_fsync_self",
        "fallocate, then fsync of the file",
        "$PC\nfallocate 1 0 0 65536\nfsync 1\npower-cut",
    ),
    (
        "pc_punch_then_fsync_self",
        "punching a hole, then fsync of the file",
        "$PC\nfallocate 0 3 8192 16384\nfsync 0\npower-cut",
    ),
    (
        "pc_seek_data_negative_offset_over_dirty_data",
        "btrfs: SEEK_DATA from a negative offset searches from 0 while the data is delalloc (ENXIO once written back)",
        "$PC\npwrite 1 0 32768 0x62\nlseek 1 -4096 DATA\nlseek 1 -4096 HOLE\npower-cut",
    ),
    (
        "pc_punch_reaching_eof_writes_the_eof_block_back",
        "XFS: a punch up to an EOF inside a block writes that block back, zeroes included",
        "$PC\npwrite 1 0 7168 0x62\nfsync 1\npwrite 1 0 7168 0x63\nfallocate 1 3 4096 3072\nopen 2 c RDWR|CREAT\nfsync 2\npower-cut",
    ),
    (
        "pc_punch_inside_the_file_zeroes_in_the_page_cache",
        "a punch of part of a block inside the file zeroes it in the page cache only",
        "$PC\nfallocate 0 3 4196 100\nopen 2 c RDWR|CREAT\nfsync 2\npower-cut",
    ),
    (
        "pc_truncate_grow_writes_back_from_the_disk_size",
        "XFS: a growing truncate writes back the page cache from the on-disk size first",
        "$PC\npwrite 1 0 8192 0x62\nftruncate 1 65536\nopen 2 c RDWR|CREAT\nfsync 2\npower-cut",
    ),
    (
        "pc_same_size_truncate_writes_back_from_the_disk_size",
        "XFS: ftruncate to the current size of a file whose data is in the page cache writes it back",
        "$PC\npwrite 1 0 1 0x62\nftruncate 1 1\nopen 2 c RDWR|CREAT\nfsync 2\npower-cut",
    ),
    (
        "pc_failed_clone_still_flushes",
        "a clone refused by generic_remap_check_len (a partial EOF block inside the destination) has already written both ranges back",
        "$PC\nopen 2 c RDWR|CREAT\npwrite 2 0 1 0x63\npwrite 1 0 5785 0x62\nficlone 1 2\nopen 3 d RDWR|CREAT\nfsync 3\npower-cut",
    ),
    (
        "pc_punch_unsynced",
        "punching a hole never made durable: the data is back",
        "$PC\nfallocate 0 3 8192 16384\npower-cut",
    ),
];

/// The size of the simulator's filesystem in `ENOSPC` scenarios (the real side uses the
/// kind's smallest image, or a tmpfs of this size).
pub const ENOSPC_FS_SIZE: u64 = 8 << 20;

fn expand(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let l = line.trim();
        let snippet = match l {
            "$AB" => AB,
            "$ABX" => ABX,
            "$ABD" => ABD,
            "$SAME" => SAME,
            "$SPARSE" => SPARSE,
            "$FDE" => FDE,
            "$BIG" => BIG,
            "$PC" => PC,
            "$PCX" => PCX,
            _ => {
                out += l;
                out.push('\n');
                continue;
            }
        };
        out += snippet;
    }
    out
}

fn build(name: &str, about: &str, text: &str) -> Scenario {
    let mut sc =
        Scenario::parse(name, &expand(text)).unwrap_or_else(|e| panic!("scenario {name}: {e}"));
    sc.about = about.to_string();
    sc
}

/// Every hand-written scenario, in a fixed order.
pub fn all() -> Vec<Scenario> {
    let mut v: Vec<Scenario> = TABLE.iter().map(|(n, a, t)| build(n, a, t)).collect();
    for (n, a, t) in ENOSPC {
        let mut sc = build(n, a, t);
        sc.small_fs = Some(ENOSPC_FS_SIZE);
        sc.untracked.push(crate::scenario::Path::main("fill"));
        v.push(sc);
    }
    v.extend(power_cut());
    v
}

/// The power-cut scenarios alone (`splicelab conform --power-cut`).
pub fn power_cut() -> Vec<Scenario> {
    POWER_CUT.iter().map(|(n, a, t)| build(n, a, t)).collect()
}

/// The scenario called `name`.
pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_80_distinct_scenarios_that_parse_and_round_trip() {
        let v = all();
        assert!(v.len() >= 80, "{} scenarios", v.len());
        let mut names: Vec<&str> = v.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), v.len(), "duplicate names");
        assert!(
            power_cut().len() >= 40,
            "{} power-cut scenarios",
            power_cut().len()
        );
        for s in &v {
            let back = Scenario::parse(&s.name, &s.to_text()).unwrap();
            assert_eq!(back.lines, s.lines, "{}", s.name);
            assert_eq!(back.small_fs, s.small_fs, "{}", s.name);
        }
    }
}
