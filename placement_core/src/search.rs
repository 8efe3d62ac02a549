//! The pair search of one request: primaries in strategy order, each with its best secondary.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::ops::Bound::{Excluded, Unbounded};

use rustc_hash::FxHashMap;

use crate::engine::Choice;
use crate::inventory::Inventory;
use crate::model::{Rule, Score, StorageKind};
use crate::rules::{Pin, PrimarySide, PrimaryStorage, Resolved, SecondaryStorage};

/// (score, uuid order key, slot): ascending order is the strategy's preference order.
pub type Key = (u64, u128, u32);
pub type HostIndex = BTreeSet<Key>;

/// Hosts the primary walk may visit before it stops walking the index and scans every host once instead, so a
/// request few hosts can take (or none) costs at most one sequential pass.
const WALK_BUDGET: usize = 4096;

/// Hosts the secondary walk visits on zone-wide counts before it checks which soft-rule tiers the request's own
/// clusters can reach (done only when they are at most `PRECISE_TIERS_MAX_CLUSTERS`).
const PRECISE_TIERS_AFTER: usize = 64;
const PRECISE_TIERS_MAX_CLUSTERS: usize = 256;

pub struct PairSearch<'a, 'q> {
    inv: &'a Inventory,
    /// One index per zone id, for the request's strategy.
    index: &'a [HostIndex],
    kind: Score,
    r: &'a Resolved<'q>,
    /// Every rule is at least as strict for the secondary as for the primary unless the primary is pinned to a
    /// host or storage. Then every host before a primary in strategy order, having failed the primary's rules,
    /// cannot be its secondary either: the secondary walk starts after the primary, plus the earlier primaries
    /// that found no partner (`tried`).
    skip_prefix: bool,
    tried: Vec<Key>,
    /// Zones where a secondary search failed for reasons no other primary changes: the only host that could
    /// still serve as secondary there is the primary it failed for.
    sole_secondary: FxHashMap<u32, u32>,
    /// The first host that passed the primary's rules (the error reports the secondary phase against it).
    pub first_primary: Option<(u32, PrimaryStorage)>,
}

impl<'a, 'q> PairSearch<'a, 'q> {
    pub fn new(inv: &'a Inventory, index: &'a [HostIndex], kind: Score, r: &'a Resolved<'q>) -> Self {
        PairSearch {
            inv,
            index,
            kind,
            r,
            skip_prefix: r.host == Pin::Any && r.root_storage == Pin::Any && r.data_storage == Pin::Any,
            tried: Vec::new(),
            sole_secondary: FxHashMap::default(),
            first_primary: None,
        }
    }

    /// Tries primaries from a list already in strategy order.
    pub fn in_order(&mut self, keys: Vec<Key>) -> Option<Choice> {
        keys.into_iter().find_map(|key| self.try_primary(key))
    }

    /// Walks the zones' indexes merged in strategy order; past the budget, scans once for the hosts that pass the
    /// primary's rules and goes on over those.
    pub fn across_zones(&mut self, zones: &[u32]) -> Option<Choice> {
        let index = self.index;
        let mut walk = Merge::new(zones.iter().filter_map(|&z| index.get(z as usize)).map(|i| i.iter()).collect());
        let mut last = None;
        for _ in 0..WALK_BUDGET {
            let &key = walk.next()?;
            last = Some(key);
            if let Some(choice) = self.try_primary(key) {
                return Some(choice);
            }
        }
        let (inv, r) = (self.inv, self.r);
        let rest: Vec<Reverse<Key>> = (0..inv.hosts.len() as u32)
            .filter(|&slot| inv.hosts.live[slot as usize] && zones.contains(&inv.hosts.zone[slot as usize]))
            .filter(|&slot| inv.primary_host_rules(slot, r).is_ok())
            .map(|slot| Reverse(inv.index_key(self.kind, slot)))
            .filter(|Reverse(key)| Some(*key) > last)
            .collect();
        // Usually the first survivor pairs: a heap (built in linear time) orders only as many as are tried.
        let mut rest = BinaryHeap::from(rest);
        std::iter::from_fn(|| rest.pop()).find_map(|Reverse(key)| self.try_primary(key))
    }

    pub fn try_primary(&mut self, key: Key) -> Option<Choice> {
        let slot = key.2;
        let storage = self.inv.check_primary(slot, self.r).ok()?;
        self.first_primary.get_or_insert((slot, storage));
        let side = self.inv.primary_side(slot, storage);
        let found = match self.sole_secondary.get(&side.zone) {
            Some(&only) => self.inv.check_secondary(only, self.r, &side).ok().map(|st| (only, st)),
            None => match self.find_secondary(&side, key) {
                Ok(found) => Some(found),
                Err(contended) => {
                    if !contended {
                        self.sole_secondary.insert(side.zone, slot);
                    }
                    None
                }
            },
        };
        match found {
            Some((secondary, secondary_storage)) => {
                Some(Choice { primary: slot, primary_storage: storage, secondary, secondary_storage })
            }
            None => {
                self.tried.push(key);
                None
            }
        }
    }

    /// The best secondary for `p`: visit in strategy order, keeping the first host of each soft-rule tier (other
    /// failure domain and other storage first); stop as soon as no better tier can exist. Err(contended) when
    /// none: `contended` says some host failed only because it shares the primary's storage.
    fn find_secondary(&self, p: &PrimarySide, p_key: Key) -> Result<(u32, SecondaryStorage), bool> {
        let (inv, r) = (self.inv, self.r);
        let zone_hosts = inv.zone_hosts[p.zone as usize];
        let same_domain_hosts = inv.zone_domain_hosts.get(&(p.zone, p.failure_domain)).copied().unwrap_or(0);
        let other_domain_exists = zone_hosts > same_domain_hosts;
        // Usable shared storages of the primary: counted among the zone's reachable ones (its host is in the zone).
        let primary_shared = [p.storage.root, p.storage.data]
            .iter()
            .enumerate()
            .filter(|&(i, &id)| {
                (i == 0 || id != p.storage.root) && {
                    let st = inv.storage(id);
                    st.kind == StorageKind::Shared && st.usable
                }
            })
            .count();
        let reachable = inv.zone_reachable_storages.get(&p.zone).copied().unwrap_or(0) as usize;
        let other_storage_exists = reachable > primary_shared;
        let mut best: [Option<(u32, SecondaryStorage)>; 4] = [None; 4];
        let mut contended = false;
        let mut best_possible = (!other_domain_exists as usize) * 2 + !other_storage_exists as usize;
        let mut visited = 0usize;
        let mut visit = |key: &Key| -> bool {
            let slot = key.2;
            visited += 1;
            if visited == PRECISE_TIERS_AFTER && best_possible < 3 {
                // The zone-wide counts said a better tier may exist, yet none came: ask the clusters that can
                // really hold this secondary (those carrying the request's L2s), when they are few.
                if let Some(precise) = self.best_possible_tier(p) {
                    best_possible = best_possible.max(precise);
                    if best.iter().take(best_possible + 1).any(Option::is_some) {
                        return true;
                    }
                }
            }
            match inv.check_secondary(slot, r, p) {
                Ok(st) => {
                    let same_domain = inv.hosts.failure_domain[slot as usize] == p.failure_domain;
                    let tier = (same_domain as usize) * 2 + st.same as usize;
                    best[tier].get_or_insert((slot, st));
                    tier <= best_possible
                }
                Err(Rule::PrimaryStorage) => {
                    contended |= inv.storage_contended(slot as usize, r, p);
                    false
                }
                Err(_) => false,
            }
        };
        let tried = self.tried.iter().filter(|k| inv.hosts.zone[k.2 as usize] == p.zone);
        match (r.cluster, self.skip_prefix) {
            (Pin::Is(cluster), skip) => {
                let members = inv.ordered_members(self.kind, &[cluster]);
                let start = if skip { members.partition_point(|k| *k <= p_key) } else { 0 };
                let prefix = if skip { self.tried.as_slice() } else { &[] };
                let _ = prefix.iter().chain(&members[start..]).any(&mut visit);
            }
            (_, true) => {
                let _ = tried.chain(self.index[p.zone as usize].range((Excluded(p_key), Unbounded))).any(&mut visit);
            }
            (_, false) => {
                let _ = self.index[p.zone as usize].iter().any(&mut visit);
            }
        }
        best.into_iter().flatten().next().ok_or(contended)
    }

    /// The best soft-rule tier a secondary of `p` can reach, from the hosts and storages of the clusters that
    /// carry every requested L2 in `p`'s zone; None when that set is not small enough to be worth computing.
    fn best_possible_tier(&self, p: &PrimarySide) -> Option<usize> {
        let (inv, r) = (self.inv, self.r);
        let l2s = r.l2s.as_deref().filter(|l2s| !l2s.is_empty())?;
        let rarest = l2s.iter().copied().min_by_key(|&l2| inv.l2_clusters(l2).len())?;
        let clusters = inv.l2_clusters(rarest);
        if clusters.len() > PRECISE_TIERS_MAX_CLUSTERS {
            return None;
        }
        let eligible = clusters.iter().copied().filter(|&c| {
            r.cluster.admits(c)
                && inv.cluster_zones(c).contains(&p.zone)
                && l2s.iter().all(|l2| inv.cluster_l2[c as usize].contains(l2))
        });
        let (mut other_domain, mut other_storage) = (false, false);
        for c in eligible {
            other_domain |= inv.cluster_hosts[c as usize].iter().any(|&h| {
                inv.hosts.zone[h as usize] == p.zone && inv.hosts.failure_domain[h as usize] != p.failure_domain
            });
            other_storage |= inv.cluster_storages[c as usize].iter().any(|&id| {
                let st = inv.storage(id);
                st.usable && (st.kind == StorageKind::Local || (id != p.storage.root && id != p.storage.data))
            });
        }
        Some((!other_domain as usize) * 2 + !other_storage as usize)
    }
}

/// Several ascending iterators merged into one ascending iterator (a request spans few zones).
struct Merge<'a> {
    iters: Vec<std::iter::Peekable<std::collections::btree_set::Iter<'a, Key>>>,
}

impl<'a> Merge<'a> {
    fn new(iters: Vec<std::collections::btree_set::Iter<'a, Key>>) -> Self {
        Merge { iters: iters.into_iter().map(Iterator::peekable).collect() }
    }
}

impl<'a> Iterator for Merge<'a> {
    type Item = &'a Key;

    fn next(&mut self) -> Option<&'a Key> {
        let mut best: Option<(usize, &'a Key)> = None;
        for (i, it) in self.iters.iter_mut().enumerate() {
            if let Some(&key) = it.peek() {
                if best.is_none_or(|(_, b)| key < b) {
                    best = Some((i, key));
                }
            }
        }
        self.iters[best?.0].next()
    }
}
