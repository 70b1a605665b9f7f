//! The script runner's output and hashing are bounded by pieces, not bytes (issue 17):
//! `pread -v` writes its dump line by line as it makes it, and `md5sum` hashes holes and
//! fill runs without materialising them. Counted with `vfs::data::materialised` (bytes of
//! lazy data built into buffers on this thread), never with wall-clock time.

use std::io::{self, Write};

use md5::{Digest, Md5};

/// A transcript writer that notes how many lazy bytes had been materialised when the
/// first line of the hex dump arrived.
struct FirstDumpLine {
    text: Vec<u8>,
    materialised_at_first_line: Option<u64>,
}

impl Write for FirstDumpLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.materialised_at_first_line.is_none() && buf.starts_with(b"00000000:  ") {
            self.materialised_at_first_line = Some(vfs::data::materialised());
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn regression_pread_v_streams_its_dump() {
    // 16 MiB dumped: 1,048,576 lines. They used to be collected in the command's record
    // and printed at its end (a 1 GiB dump ran out of memory); now the first line is out
    // after the first 64 KiB.
    let mut out = FirstDumpLine {
        text: Vec::new(),
        materialised_at_first_line: None,
    };
    let before = vfs::data::materialised();
    splicelab::script::run_to(
        "open -f /a\npwrite -q 0 16m\npread -v 0 16m\n",
        "plain",
        false,
        &mut out,
    )
    .unwrap();
    let at_first = out.materialised_at_first_line.expect("a dump") - before;
    assert!(
        at_first <= 64 * 1024,
        "{at_first} bytes built before the first line"
    );
    let text = String::from_utf8(out.text).unwrap();
    assert_eq!(text.lines().count(), (16 << 20) / 16 + 2);
    assert!(text.starts_with(
        "00000000:  cd cd cd cd cd cd cd cd cd cd cd cd cd cd cd cd  ................\n"
    ));
    assert!(text.contains("\n00fffff0:  cd cd"));
    assert!(text.contains("\nread 16777216/16777216 bytes at offset 0\n"));
}

#[test]
fn regression_md5sum_hashes_holes_and_fill_without_building_them() {
    // 32 MiB of fill byte 0xcd, then a 32 MiB hole.
    let before = vfs::data::materialised();
    let out = splicelab::script::run_str(
        "open -f /a\npwrite -q 0 32m\ntruncate 64m\nmd5sum /a\n",
        "xfs-like",
        false,
    )
    .unwrap();
    let built = vfs::data::materialised() - before;
    let mut h = Md5::new();
    h.update(vec![0xcdu8; 32 << 20]);
    h.update(vec![0u8; 32 << 20]);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(out, format!("{hex}  /a\n"));
    // One 64 KiB piece per 1 MiB read of fill data; nothing for the hole. It was 64 MiB.
    assert!(
        built <= 32 * 64 * 1024,
        "{built} bytes built to hash 64 MiB"
    );
}

#[test]
fn regression_md5sum_of_a_huge_sparse_file_is_refused_at_once() {
    // MD5 has no shortcut over zeroes: a 1 TiB sparse file was about 50 minutes of hashing.
    // Above cp::MD5_MAX_BYTES (4 GiB) the command says so instead, reading nothing.
    let before = vfs::data::materialised();
    let out = splicelab::script::run_str("open -f /a\ntruncate 1t\nmd5sum /a\n", "xfs-like", false)
        .unwrap();
    assert_eq!(vfs::data::materialised() - before, 0);
    assert!(
        out.contains("md5sum: /a: larger than the 4 GiB the lab hashes"),
        "{out}"
    );
}
