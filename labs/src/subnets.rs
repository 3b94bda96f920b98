//! Addresses for lab networks. Left to Docker, every lab network takes one of the daemon's
//! default address pools (about 30: 172.17-31.0.0/16 and 192.168.0.0/16 in /20s), so with five
//! zones a lab the sixth lab on a host could not get a network. Labs instead take a /26 each
//! zone (62 addresses, for at most a few dozen services a zone) from 198.18.0.0/15, the range
//! RFC 2544 sets aside for benchmarking and no real network routes: 2048 lab networks, about
//! 400 labs of five zones.
//!
//! A pick is a free /26, checked against the subnets of every network the daemon already has
//! and those this process is creating right now, scanning from a random place in the block:
//! processes starting labs at once (a room of 20 on one host) would otherwise all pick the same
//! first free one. A race that still happens is settled by the daemon, which refuses an
//! overlapping subnet, and the caller tries another.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use bollard::Docker;
use bollard::query_parameters::ListNetworksOptions;

use crate::error::LabError;

/// The block lab subnets come from: 198.18.0.0/15.
pub const BLOCK: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);
/// The size of one zone's subnet.
pub const PREFIX: u8 = 26;

/// Subnets (their first address) this process picked and has not released yet.
static PICKED: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// An IPv4 range as (first address, number of addresses).
type Range = (u64, u64);

/// `a.b.c.d/p` as a range; `None` for IPv6 or nonsense.
pub fn parse_cidr(cidr: &str) -> Option<Range> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.trim().parse().ok()?;
    let prefix: u32 = prefix.trim().parse().ok()?;
    if prefix > 32 {
        return None;
    }
    let size = 1u64 << (32 - prefix);
    let first = u64::from(u32::from(addr)) & !(size - 1);
    Some((first, size))
}

fn overlaps(a: Range, b: Range) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

/// `198.18.x.y/26`, from the subnet's first address.
fn format_subnet(first: u32) -> String {
    format!("{}/{PREFIX}", Ipv4Addr::from(first))
}

/// The number of /26 subnets in the block.
pub const SLOTS: u32 = 1 << (PREFIX - BLOCK.1);

/// The first /26 of the block from slot `from` on (wrapping around) that overlaps none of
/// `taken`, skipping `also` (picked by this process). `None` when the block is full.
pub fn first_free(taken: &[Range], also: &BTreeSet<u32>, from: u32) -> Option<u32> {
    let start = u32::from(BLOCK.0);
    let size = 1u64 << (32 - PREFIX);
    let slot = |i: u32| start + ((from + i) % SLOTS) * size as u32;
    (0..SLOTS).map(slot).find(|&first| {
        !also.contains(&first)
            && !taken
                .iter()
                .any(|&range| overlaps(range, (u64::from(first), size)))
    })
}

/// The subnets of every network the daemon has.
async fn taken(docker: &Docker) -> Result<Vec<Range>, LabError> {
    let networks = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .map_err(|e| LabError::docker("list networks", "for a free lab subnet", e))?;
    Ok(networks
        .into_iter()
        .filter_map(|n| n.ipam?.config)
        .flatten()
        .filter_map(|c| parse_cidr(c.subnet.as_deref()?))
        .collect())
}

/// A subnet held for one network being created: released (back to the daemon's own view of
/// what is taken) when dropped, whether the creation succeeded or not.
#[derive(Debug)]
pub struct Lease {
    first: u32,
}

impl Lease {
    /// `198.18.x.y/26`.
    pub fn subnet(&self) -> String {
        format_subnet(self.first)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut picked) = PICKED.lock() {
            picked.remove(&self.first);
        }
    }
}

/// Pick a free subnet, skipping `refused` (subnets the daemon just refused as overlapping: a
/// network another process made since the listing).
pub async fn lease(docker: &Docker, refused: &[Range]) -> Result<Lease, LabError> {
    let mut taken = taken(docker).await?;
    taken.extend_from_slice(refused);
    let mut picked = PICKED
        .lock()
        .map_err(|_| LabError::Runtime("the subnet list was poisoned".into()))?;
    let from = rand::random_range(0..SLOTS);
    let first =
        first_free(&taken, &picked, from).ok_or_else(|| LabError::AddressPoolsExhausted {
            network: "a lab zone".into(),
            detail: format!("every /{PREFIX} of {}/{} is in use", BLOCK.0, BLOCK.1),
        })?;
    picked.insert(first);
    Ok(Lease { first })
}

/// Whether a create-network error is the daemon refusing an overlapping subnet.
pub fn is_overlap(e: &bollard::errors::Error) -> bool {
    e.to_string().contains("overlaps")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn picks_the_first_subnet_nothing_overlaps() {
        let none = BTreeSet::new();
        let first = first_free(&[], &none, 0).unwrap();
        assert_eq!(format_subnet(first), "198.18.0.0/26");
        // A daemon network covering the first 128 addresses pushes the pick past it.
        let taken = [parse_cidr("198.18.0.0/25").unwrap()];
        assert_eq!(
            format_subnet(first_free(&taken, &none, 0).unwrap()),
            "198.18.0.128/26"
        );
        // What this process picked counts too.
        let mine = BTreeSet::from([first_free(&taken, &none, 0).unwrap()]);
        assert_eq!(
            format_subnet(first_free(&taken, &mine, 0).unwrap()),
            "198.18.0.192/26"
        );
        // The scan starts where asked and wraps around past the block's end.
        assert_eq!(
            format_subnet(first_free(&[], &none, SLOTS - 1).unwrap()),
            "198.19.255.192/26"
        );
        let last = [parse_cidr("198.19.255.192/26").unwrap()];
        assert_eq!(first_free(&last, &none, SLOTS - 1), Some(first));
        // A network holding the whole block leaves nothing.
        assert_eq!(
            first_free(&[parse_cidr("198.16.0.0/12").unwrap()], &none, 7),
            None
        );
        // Docker's default pools do not touch the block.
        let defaults = [
            parse_cidr("172.17.0.0/16").unwrap(),
            parse_cidr("192.168.0.0/20").unwrap(),
        ];
        assert_eq!(first_free(&defaults, &none, 0), Some(first));
    }

    #[test]
    fn cidrs_parse_or_are_skipped() {
        assert_eq!(parse_cidr("10.0.0.0/8"), Some((10 << 24, 1 << 24)));
        assert_eq!(
            parse_cidr("10.1.2.3/24"),
            Some(((10 << 24) + (1 << 16) + (2 << 8), 256))
        );
        for bad in ["fd00::/64", "10.0.0.0", "10.0.0.0/33", "x/8", ""] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn a_pick_never_overlaps_what_is_taken(
            taken in proptest::collection::vec((any::<u32>(), 12u8..=32), 0..40),
            parse in ".{0,24}",
            from in 0..SLOTS,
        ) {
            let _ = parse_cidr(&parse);
            let taken: Vec<Range> = taken
                .iter()
                .filter_map(|(addr, p)| parse_cidr(&format!("{}/{p}", Ipv4Addr::from(*addr))))
                .collect();
            if let Some(first) = first_free(&taken, &BTreeSet::new(), from) {
                let pick = (u64::from(first), 1u64 << (32 - PREFIX));
                prop_assert!(taken.iter().all(|&t| !overlaps(t, pick)));
                let block = parse_cidr("198.18.0.0/15").unwrap();
                prop_assert!(overlaps(block, pick) && pick.0 + pick.1 <= block.0 + block.1);
            }
        }
    }
}
