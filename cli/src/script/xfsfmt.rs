//! Output formats of `xfs_io`, reproduced from its behaviour (xfsprogs `libfrog/convert.c`
//! `cvtstr`, `libxcmd/input.c` `timestr`/`tdiv`, `libxcmd/command.c` `report_io_times`,
//! `io/pread.c` `dump_buffer`, `io/fiemap.c`), so that a transcript reads like a real one.
//!
//! Times are the *virtual* time of the simulated task, so transcripts are deterministic.

use std::fmt::Write as _;

use vfs::clock::Nanos;

const KIB: f64 = 1024.0;

/// C's `(int)value` on x86-64: out-of-range and NaN convert to `INT_MIN`.
fn c_int(v: f64) -> i64 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        i64::from(i32::MIN)
    } else {
        v.trunc() as i64
    }
}

/// `printf("%.Nf")` with glibc's spelling of the special values (`inf`, `-nan`).
pub fn cfloat(v: f64, prec: usize) -> String {
    if v.is_nan() {
        // The only NaN these formulas produce is 0/0, which is negative on x86-64.
        "-nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{v:.prec$}")
    }
}

/// `cvtstr`: a byte count for people (`64 KiB`, `1.500 MiB`, `512.000000 bytes`).
///
/// Whole numbers below 2^31 print without decimals, as in xfs_io (which tests this with a
/// cast to `int`, so larger values print with three decimals: `1.000 TiB`).
pub fn cvtstr(value: f64) -> String {
    let precise = value * 1000.0 == c_int(value) as f64 * 1000.0;
    let units = [
        (KIB.powi(6), "EiB"),
        (KIB.powi(5), "PiB"),
        (KIB.powi(4), "TiB"),
        (KIB.powi(3), "GiB"),
        (KIB.powi(2), "MiB"),
        (KIB, "KiB"),
    ];
    for (mult, unit) in units {
        if value >= mult {
            let prec = if precise { 0 } else { 3 };
            return format!("{} {unit}", cfloat(value / mult, prec));
        }
    }
    format!("{} bytes", cfloat(value, 6))
}

/// A duration as `struct timeval` (seconds, microseconds), truncated like `gettimeofday`.
pub fn timeval(ns: Nanos) -> (u64, u64) {
    (ns / 1_000_000_000, (ns % 1_000_000_000) / 1_000)
}

/// `timestr`: `0.0012 sec` below a second, `H:MM:SS.hh` above (and always when `compact`).
pub fn timestr(ns: Nanos, compact: bool) -> String {
    let (sec, usec) = timeval(ns);
    if compact || sec != 0 {
        format!(
            "{}:{:02}:{:02}.{:02}",
            sec / 3600,
            (sec % 3600) / 60,
            sec % 60,
            usec / 10_000
        )
    } else {
        format!("0.{:04} sec", usec / 100)
    }
}

/// `tdiv`: a rate per second of the (microsecond-truncated) duration.
///
/// Nothing done is a rate of 0, whatever the duration. xfs_io divides 0 by the measured
/// time and prints `0.000000 bytes/sec` for a 0-byte `pwrite` or `pread` past EOF: a real
/// call takes a few microseconds. Only when it measures no time at all does it print
/// `-nan` (0/0); virtual time charges nothing for a call that moves no byte, so that rare
/// case would become every case here.
pub fn tdiv(value: f64, ns: Nanos) -> f64 {
    if value == 0.0 {
        return 0.0;
    }
    let (sec, usec) = timeval(ns);
    value / (sec as f64 + usec as f64 / 1_000_000.0)
}

/// `report_io_times`: the two lines after `pwrite`, `pread`, `reflink`, `dedupe`, or the
/// one condensed line with `-C`.
pub fn report_io_times(
    verb: &str,
    ns: Nanos,
    offset: u64,
    count: u64,
    total: u64,
    ops: u64,
    compact: bool,
) -> Vec<String> {
    let ts = timestr(ns, compact);
    if compact {
        vec![format!(
            "{total},{ops},{ts},{},{}",
            cfloat(tdiv(total as f64, ns), 3),
            cfloat(tdiv(ops as f64, ns), 3)
        )]
    } else {
        vec![
            format!("{verb} {total}/{count} bytes at offset {offset}"),
            format!(
                "{}, {ops} ops; {ts} ({}/sec and {} ops/sec)",
                cvtstr(total as f64),
                cvtstr(tdiv(total as f64, ns)),
                cfloat(tdiv(ops as f64, ns), 4)
            ),
        ]
    }
}

/// `dump_buffer` (`pread -v`): 16 bytes a line, hex then the alphanumeric characters.
pub fn dump_lines(offset: u64, bytes: &[u8], out: &mut Vec<String>) {
    dump_each(offset, bytes, |l| out.push(l));
}

/// [`dump_lines`], each line handed to `emit` as it is made.
pub fn dump_each(offset: u64, bytes: &[u8], mut emit: impl FnMut(String)) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, row) in bytes.chunks(16).enumerate() {
        // "%08llx:  ", then "%02x " per byte, a space, then the characters.
        let mut s = String::with_capacity(12 + 4 * 16);
        let _ = write!(s, "{:08x}:  ", offset + 16 * i as u64);
        for &b in row {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
            s.push(' ');
        }
        s.push(' ');
        for &b in row {
            s.push(if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '.'
            });
        }
        emit(s);
    }
}

/// `BTOBBT`: bytes to 512-byte basic blocks, truncating.
pub fn btobbt(bytes: u64) -> u64 {
    bytes >> 9
}

/// Column widths of the `fiemap -v` table (`calc_print_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiemapWidths {
    pub foff: usize,
    pub boff: usize,
    pub tot: usize,
    pub flg: usize,
}

impl Default for FiemapWidths {
    fn default() -> FiemapWidths {
        FiemapWidths {
            foff: 16,
            boff: 16,
            tot: 5,
            flg: 5,
        }
    }
}

/// Number of digits of `v` in `base` (`numlen`).
pub fn numlen(mut v: u64, base: u64) -> usize {
    let mut n = 0;
    while v > 0 {
        v /= base;
        n += 1;
    }
    n.max(1)
}

/// The hole line of `fiemap` (`print_hole`); `llast..lstart` in basic blocks.
pub fn fiemap_hole(
    w: &FiemapWidths,
    idx: usize,
    lflag: bool,
    plain: bool,
    llast: u64,
    lstart: u64,
) -> String {
    let end = lstart.wrapping_sub(1);
    if plain {
        let mut s = format!("\t{idx}: [{llast}..{end}]: hole");
        if lflag {
            s.push_str(&format!(" {} blocks", lstart.wrapping_sub(llast)));
        }
        s
    } else {
        let lbuf = format!("[{llast}..{end}]:");
        format!(
            "{idx:4}: {lbuf:<fw$} {h:<bw$} {tot:>tw$}",
            h = "hole",
            tot = lstart.wrapping_sub(llast),
            fw = w.foff,
            bw = w.boff,
            tw = w.tot
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvtstr_matches_xfs_io() {
        assert_eq!(cvtstr(65536.0), "64 KiB");
        assert_eq!(
            cvtstr(1536.0),
            "2 KiB",
            "precise values print %.f (round half even)"
        );
        assert_eq!(cvtstr(1024.5), "1.000 KiB");
        assert_eq!(cvtstr(512.0), "512.000000 bytes");
        assert_eq!(
            cvtstr((1u64 << 40) as f64),
            "1.000 TiB",
            "(int) cast overflows"
        );
        assert_eq!(cvtstr(f64::INFINITY), "inf EiB");
        assert_eq!(cvtstr(f64::NAN), "-nan bytes");
        assert_eq!(cvtstr(1.5 * 1048576.0), "2 MiB");
    }

    #[test]
    fn timestr_matches_xfs_io() {
        assert_eq!(timestr(66_000, false), "0.0000 sec");
        assert_eq!(timestr(1_234_567, false), "0.0012 sec");
        assert_eq!(timestr(61_500_000_000, false), "0:01:01.50");
        assert_eq!(timestr(1_000, true), "0:00:00.00");
    }

    #[test]
    fn report_lines() {
        let l = report_io_times("wrote", 66_000, 0, 65536, 65536, 1, false);
        assert_eq!(l[0], "wrote 65536/65536 bytes at offset 0");
        assert_eq!(
            l[1],
            "64 KiB, 1 ops; 0.0000 sec (946.970 MiB/sec and 15151.5152 ops/sec)"
        );
        // What xfs_io 6.1 prints for `pwrite 0 0` and `pread 100 10` past EOF.
        let z = report_io_times("wrote", 0, 0, 0, 0, 0, false);
        assert_eq!(
            z[1],
            "0.000000 bytes, 0 ops; 0.0000 sec (0.000000 bytes/sec and 0.0000 ops/sec)"
        );
        let z = report_io_times("read", 0, 100, 10, 0, 0, true);
        assert_eq!(z[0], "0,0,0:00:00.00,0.000,0.000");
    }

    #[test]
    fn dump_is_hex_then_alnum() {
        let mut out = Vec::new();
        dump_lines(16, b"ab\xcd", &mut out);
        assert_eq!(out, ["00000010:  61 62 cd  ab."]);
    }
}
