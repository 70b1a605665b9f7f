//! Kernel ABI for the copy-offload ioctls: request numbers and struct layouts.
//!
//! Written from the user-space ABI (`linux/fs.h`, `linux/fiemap.h`, `asm-generic/ioctl.h`):
//! the numbers are computed with the same encoding as `_IOW`/`_IOWR` from the struct sizes,
//! and the unit tests pin both the sizes and the resulting numbers. Buffers are serialised
//! field by field at the offsets of these `#[repr(C)]` structs (`offset_of!`), so the only
//! unsafe code is the `ioctl` call itself.

use std::mem::{offset_of, size_of};

// asm-generic/ioctl.h encoding (x86, arm, riscv, …; not alpha/mips/powerpc/sparc).
const IOC_NRSHIFT: u64 = 0;
const IOC_TYPESHIFT: u64 = 8;
const IOC_SIZESHIFT: u64 = 16;
const IOC_DIRSHIFT: u64 = 30;
const IOC_WRITE: u64 = 1;
const IOC_READ: u64 = 2;

const fn ioc(dir: u64, ty: u64, nr: u64, size: usize) -> u64 {
    (dir << IOC_DIRSHIFT)
        | ((size as u64) << IOC_SIZESHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

const fn iow(ty: u64, nr: u64, size: usize) -> u64 {
    ioc(IOC_WRITE, ty, nr, size)
}

const fn iowr(ty: u64, nr: u64, size: usize) -> u64 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size)
}

/// `struct file_clone_range` (`FICLONERANGE`'s argument).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FileCloneRange {
    pub src_fd: i64,
    pub src_offset: u64,
    pub src_length: u64,
    pub dest_offset: u64,
}

/// `struct file_dedupe_range` without its trailing `info[]` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FileDedupeRange {
    pub src_offset: u64,
    pub src_length: u64,
    pub dest_count: u16,
    pub reserved1: u16,
    pub reserved2: u32,
}

/// `struct file_dedupe_range_info` (one destination).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FileDedupeRangeInfo {
    pub dest_fd: i64,
    pub dest_offset: u64,
    pub bytes_deduped: u64,
    pub status: i32,
    pub reserved: u32,
}

/// `struct fiemap` without its trailing `fm_extents[]` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Fiemap {
    pub fm_start: u64,
    pub fm_length: u64,
    pub fm_flags: u32,
    pub fm_mapped_extents: u32,
    pub fm_extent_count: u32,
    pub fm_reserved: u32,
}

/// `struct fiemap_extent`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FiemapExtentRaw {
    pub fe_logical: u64,
    pub fe_physical: u64,
    pub fe_length: u64,
    pub fe_reserved64: [u64; 2],
    pub fe_flags: u32,
    pub fe_reserved: [u32; 3],
}

/// `FICLONE`: `_IOW(0x94, 9, int)`.
pub const FICLONE: u64 = iow(0x94, 9, size_of::<i32>());
/// `FICLONERANGE`: `_IOW(0x94, 13, struct file_clone_range)`.
pub const FICLONERANGE: u64 = iow(0x94, 13, size_of::<FileCloneRange>());
/// `FIDEDUPERANGE`: `_IOWR(0x94, 54, struct file_dedupe_range)`.
pub const FIDEDUPERANGE: u64 = iowr(0x94, 54, size_of::<FileDedupeRange>());
/// `FS_IOC_FIEMAP`: `_IOWR('f', 11, struct fiemap)`.
pub const FS_IOC_FIEMAP: u64 = iowr(b'f' as u64, 11, size_of::<Fiemap>());

/// Little helpers to serialise the ABI structs into a byte buffer at their field offsets.
pub fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

pub fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

pub fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

pub fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_ne_bytes(b)
}

pub fn get_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_ne_bytes(b)
}

/// Field offsets used by the serialisers (kept next to the structs they describe).
pub mod off {
    use super::*;

    pub const DR_SRC_OFFSET: usize = offset_of!(FileDedupeRange, src_offset);
    pub const DR_SRC_LENGTH: usize = offset_of!(FileDedupeRange, src_length);
    pub const DR_DEST_COUNT: usize = offset_of!(FileDedupeRange, dest_count);
    pub const DRI_DEST_FD: usize = offset_of!(FileDedupeRangeInfo, dest_fd);
    pub const DRI_DEST_OFFSET: usize = offset_of!(FileDedupeRangeInfo, dest_offset);
    pub const DRI_BYTES_DEDUPED: usize = offset_of!(FileDedupeRangeInfo, bytes_deduped);
    pub const DRI_STATUS: usize = offset_of!(FileDedupeRangeInfo, status);

    pub const FM_START: usize = offset_of!(Fiemap, fm_start);
    pub const FM_LENGTH: usize = offset_of!(Fiemap, fm_length);
    pub const FM_FLAGS: usize = offset_of!(Fiemap, fm_flags);
    pub const FM_MAPPED_EXTENTS: usize = offset_of!(Fiemap, fm_mapped_extents);
    pub const FM_EXTENT_COUNT: usize = offset_of!(Fiemap, fm_extent_count);
    pub const FE_LOGICAL: usize = offset_of!(FiemapExtentRaw, fe_logical);
    pub const FE_PHYSICAL: usize = offset_of!(FiemapExtentRaw, fe_physical);
    pub const FE_LENGTH: usize = offset_of!(FiemapExtentRaw, fe_length);
    pub const FE_FLAGS: usize = offset_of!(FiemapExtentRaw, fe_flags);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes as `sizeof` reports them for the uapi headers (checked with gcc against
    /// `/usr/include/linux/fs.h` and `/usr/include/linux/fiemap.h` on x86-64).
    #[test]
    fn struct_sizes_match_the_kernel_abi() {
        assert_eq!(size_of::<FileCloneRange>(), 32);
        assert_eq!(size_of::<FileDedupeRange>(), 24);
        assert_eq!(size_of::<FileDedupeRangeInfo>(), 32);
        assert_eq!(size_of::<Fiemap>(), 32);
        assert_eq!(size_of::<FiemapExtentRaw>(), 56);
    }

    #[test]
    fn field_offsets_match_the_kernel_abi() {
        assert_eq!(offset_of!(FileCloneRange, src_fd), 0);
        assert_eq!(offset_of!(FileCloneRange, src_offset), 8);
        assert_eq!(offset_of!(FileCloneRange, src_length), 16);
        assert_eq!(offset_of!(FileCloneRange, dest_offset), 24);
        assert_eq!(off::DR_SRC_OFFSET, 0);
        assert_eq!(off::DR_SRC_LENGTH, 8);
        assert_eq!(off::DR_DEST_COUNT, 16);
        assert_eq!(offset_of!(FileDedupeRange, reserved1), 18);
        assert_eq!(offset_of!(FileDedupeRange, reserved2), 20);
        assert_eq!(off::DRI_DEST_FD, 0);
        assert_eq!(off::DRI_DEST_OFFSET, 8);
        assert_eq!(off::DRI_BYTES_DEDUPED, 16);
        assert_eq!(off::DRI_STATUS, 24);
        assert_eq!(off::FM_START, 0);
        assert_eq!(off::FM_LENGTH, 8);
        assert_eq!(off::FM_FLAGS, 16);
        assert_eq!(off::FM_MAPPED_EXTENTS, 20);
        assert_eq!(off::FM_EXTENT_COUNT, 24);
        assert_eq!(off::FE_LOGICAL, 0);
        assert_eq!(off::FE_PHYSICAL, 8);
        assert_eq!(off::FE_LENGTH, 16);
        assert_eq!(off::FE_FLAGS, 40);
    }

    /// The numbers `printf("%#lx", FICLONE)` etc. print with the installed uapi headers.
    #[test]
    fn ioctl_numbers_match_the_kernel_abi() {
        assert_eq!(FICLONE, 0x4004_9409);
        assert_eq!(FICLONERANGE, 0x4020_940d);
        assert_eq!(FIDEDUPERANGE, 0xc018_9436);
        assert_eq!(FS_IOC_FIEMAP, 0xc020_660b);
    }

    #[test]
    fn serialisers_round_trip() {
        let mut b = [0u8; 16];
        put_u64(&mut b, 0, 0x0102_0304_0506_0708);
        put_u32(&mut b, 8, 0xdead_beef);
        put_u16(&mut b, 12, 0x1234);
        assert_eq!(get_u64(&b, 0), 0x0102_0304_0506_0708);
        assert_eq!(get_u32(&b, 8), 0xdead_beef);
        assert_eq!(u16::from_ne_bytes([b[12], b[13]]), 0x1234);
    }
}
