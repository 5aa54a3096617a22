//! Entry points for the fuzz targets (`crate/fuzz/`) into the device's crate-internal
//! packet code: the TUN offload split (GSO) and the batch's TCP coalescing (GRO). Not an API.

use super::batch::{Batch, BATCH};
use super::tun::offload::{self, VnetHdr, GSO_NONE};

/// `sizeof(struct virtio_net_hdr)`.
pub const VNET_HDR_LEN: usize = offload::VNET_HDR_LEN;

/// The largest packet a batch slot holds (what the TUN reads at most).
pub const MAX_PACKET: usize = 65535;

/// Splits one packet read from the TUN (`vnet_hdr` as the kernel writes it, then `packet`)
/// into plain IP packets, as the worker does: into batches of 64, resuming where each
/// filled up. `None` when the split refuses the packet as malformed.
pub fn gso_split(vnet_hdr: &[u8; VNET_HDR_LEN], packet: &mut [u8]) -> Option<Vec<Vec<u8>>> {
    let hdr = VnetHdr::decode(vnet_hdr);
    let mut out = Vec::new();
    let mut segments = Batch::new(BATCH);
    let mut first = 0;
    loop {
        segments.clear();
        let next = offload::split(&hdr, packet, first, &mut segments).ok()?;
        out.extend((0..segments.len()).map(|i| segments.packet(i).to_vec()));
        match next {
            None => return Some(out),
            // An empty batch always takes at least one segment, so a resumed split moves on;
            // anything else would make the worker loop forever.
            Some(n) if segments.len() == 0 || n <= first => {
                panic!("split made no progress: resumed at {first}, stopped at {n}")
            }
            Some(n) => first = n,
        }
    }
}

/// One packet as the worker writes it to the TUN after coalescing: its `virtio_net_hdr`
/// and its bytes.
pub struct Coalesced {
    pub vnet_hdr: [u8; VNET_HDR_LEN],
    /// Whether the header asks for segmentation (several inputs were merged).
    pub gso: bool,
    pub packet: Vec<u8>,
}

/// Pushes decrypted IP packets (each at most [`MAX_PACKET`] bytes) through the batch's
/// coalescing, as the receive path does before writing to the TUN.
pub fn gro_coalesce(packets: &[&[u8]]) -> Vec<Coalesced> {
    let mut batch = Batch::new(BATCH);
    let mut out = Vec::new();
    let drain = |batch: &mut Batch, out: &mut Vec<Coalesced>| {
        batch.end_coalescing();
        for i in 0..batch.len() {
            let packet = batch.packet(i).to_vec();
            let hdr = batch.coalesced(i).header(&packet);
            let mut vnet_hdr = [0u8; VNET_HDR_LEN];
            hdr.encode(&mut vnet_hdr);
            out.push(Coalesced {
                vnet_hdr,
                gso: hdr.gso_type != GSO_NONE,
                packet,
            });
        }
        batch.clear();
    };
    for p in packets {
        if batch.is_full() {
            drain(&mut batch, &mut out);
        }
        batch.push_coalescing(&p[..p.len().min(MAX_PACKET)]);
    }
    drain(&mut batch, &mut out);
    out
}
