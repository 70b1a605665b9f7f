mod common;
use common::*;
#[test]
fn probe() {
    let mut p = process("nfs-like");
    let s = file_with(&mut p, "/s", &pattern(1, 3 << 20));
    let f = of(&p, s);
    eprintln!("statfs {:?} image bs {} remap bs {}", f.mnt.fs.statfs(), f.mnt.fs.image().block_size(), f.mnt.fs.remap_block_size());
}
