//! The engine: an inventory, one ordered index per strategy score, and the reservations it holds.
//!
//! Placement walks hosts in strategy order and stops at the first host that passes every rule, so a request
//! costs what it skips, not the size of the inventory. Only a failure scans every host, to count what each
//! rule removed.

use rustc_hash::FxHashMap;

use crate::inventory::{Held, Inventory};
use crate::model::{
    uuid_order_key, Config, HostSpec, Phase, Placement, PlacementError, Request, Score, StorageKind, StorageSpec,
    SCORE_KINDS,
};
use crate::rules::{Pin, PrimaryStorage, SecondaryStorage};
use crate::search::{HostIndex, PairSearch};

/// A chosen pair, by slot and storage id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    pub primary: u32,
    pub primary_storage: PrimaryStorage,
    pub secondary: u32,
    pub secondary_storage: SecondaryStorage,
}

/// What one reservation holds, to give back exactly that on release.
#[derive(Clone, Debug)]
struct Reservation {
    hosts: [(u32, u32); 2],
    held: Held,
    /// (storage id, local disk's host uuid key or None for the shared pool, bytes)
    takes: Vec<(u32, Option<u128>, i64)>,
}

/// The network as `network` reports it: (L3 uuid, L2 uuid) pairs and (cluster uuid, attached L2 uuids).
pub type Network = (Vec<(String, String)>, Vec<(String, Vec<String>)>);

/// Effective usage of one host, as `host_usage` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub cpu_used: u32,
    pub memory_used: u64,
    pub vm_count: u32,
    pub ft_vm_count: u32,
    pub ft_vcpu_count: u32,
}

#[derive(Clone, Default)]
pub struct Engine {
    inv: Inventory,
    /// Per strategy score (built on first use): one ordered index per zone id.
    indexes: [Option<Vec<HostIndex>>; SCORE_KINDS],
    l2_zones: FxHashMap<u32, (u64, Vec<u32>)>,
    reservations: FxHashMap<String, Reservation>,
}

impl Engine {
    pub fn new(config: Config) -> Self {
        Engine { inv: Inventory::new(config), ..Default::default() }
    }

    pub fn config(&self) -> &Config {
        &self.inv.config
    }

    pub fn host_count(&self) -> u64 {
        self.inv.live_host_count()
    }

    // ---- inventory updates ----

    pub fn upsert_host(&mut self, spec: &HostSpec) -> Result<(), PlacementError> {
        let key = uuid_order_key(&spec.uuid)
            .ok_or_else(|| PlacementError::InvalidRequest(format!("host uuid {:?} is not a UUID", spec.uuid)))?;
        if let Some(&slot) = self.inv.host_slots.get(spec.uuid.as_str()) {
            self.unindex(slot);
        }
        let slot = self.inv.upsert_host(spec, key);
        self.index(slot);
        Ok(())
    }

    pub fn remove_host(&mut self, uuid: &str) -> Result<(), PlacementError> {
        let &slot = self
            .inv
            .host_slots
            .get(uuid)
            .ok_or_else(|| PlacementError::UnknownResource { kind: "Host", uuid: uuid.into() })?;
        self.unindex(slot);
        self.inv.remove_host(uuid);
        Ok(())
    }

    pub fn upsert_storage(&mut self, spec: &StorageSpec) -> Result<(), PlacementError> {
        let key = uuid_order_key(&spec.uuid)
            .ok_or_else(|| PlacementError::InvalidRequest(format!("storage uuid {:?} is not a UUID", spec.uuid)))?;
        let host_keys = spec
            .host_available
            .iter()
            .map(|(host, _)| uuid_order_key(host))
            .collect::<Option<Vec<u128>>>()
            .ok_or_else(|| {
                PlacementError::InvalidRequest(format!("a local disk of {:?} names no host UUID", spec.uuid))
            })?;
        self.inv.upsert_storage(spec, key, &host_keys);
        Ok(())
    }

    pub fn remove_storage(&mut self, uuid: &str) -> Result<(), PlacementError> {
        if self.inv.remove_storage(uuid) {
            Ok(())
        } else {
            Err(PlacementError::UnknownResource { kind: "PrimaryStorage", uuid: uuid.into() })
        }
    }

    pub fn set_l3(&mut self, l3: &str, l2: &str) {
        self.inv.set_l3(l3, l2);
    }

    pub fn attach_l2(&mut self, cluster: &str, l2: &str) {
        self.inv.attach_l2(cluster, l2);
    }

    pub fn detach_l2(&mut self, cluster: &str, l2: &str) {
        self.inv.detach_l2(cluster, l2);
    }

    // ---- strategy indexes ----

    fn unindex(&mut self, slot: u32) {
        let zone = self.inv.hosts.zone[slot as usize] as usize;
        for kind in Score::ALL {
            if let Some(zones) = &mut self.indexes[kind as usize] {
                zones[zone].remove(&self.inv.index_key(kind, slot));
            }
        }
    }

    fn index(&mut self, slot: u32) {
        let zone = self.inv.hosts.zone[slot as usize] as usize;
        for kind in Score::ALL {
            if let Some(zones) = &mut self.indexes[kind as usize] {
                if zones.len() <= zone {
                    zones.resize_with(zone + 1, HostIndex::new);
                }
                zones[zone].insert(self.inv.index_key(kind, slot));
            }
        }
    }

    /// Indexes (one per zone) are built on a strategy's first use and kept in step with every change after that.
    fn ensure_index(&mut self, kind: Score) {
        if self.indexes[kind as usize].is_none() {
            let mut zones = vec![HostIndex::new(); self.inv.zones.len()];
            for &slot in self.inv.host_slots.values() {
                zones[self.inv.hosts.zone[slot as usize] as usize].insert(self.inv.index_key(kind, slot));
            }
            self.indexes[kind as usize] = Some(zones);
        }
    }

    /// Zones that have a cluster carrying `l2` (cached until the topology changes).
    fn l2_zones(&mut self, l2: u32) -> &[u32] {
        let generation = self.inv.topology_generation;
        let inv = &self.inv;
        let entry = self.l2_zones.entry(l2).or_insert((u64::MAX, Vec::new()));
        if entry.0 != generation {
            let mut zones: Vec<u32> =
                inv.l2_clusters(l2).iter().flat_map(|&c| inv.cluster_zones(c).iter().copied()).collect();
            zones.sort_unstable();
            zones.dedup();
            *entry = (generation, zones);
        }
        &entry.1
    }

    /// Zones the primary can be in: the pinned one, else those carrying every requested L2.
    fn candidate_zones(&mut self, zone: Pin, l2s: Option<&[u32]>) -> Vec<u32> {
        match (zone, l2s) {
            (Pin::Nothing, _) | (_, None) => Vec::new(),
            (Pin::Is(z), _) => vec![z],
            (Pin::Any, Some([])) => (0..self.inv.zones.len() as u32).collect(),
            (Pin::Any, Some([first, rest @ ..])) => {
                let mut zones = self.l2_zones(*first).to_vec();
                for &l2 in rest {
                    let other = self.l2_zones(l2).to_vec();
                    zones.retain(|z| other.contains(z));
                }
                zones
            }
        }
    }

    // ---- placement ----

    fn validate(req: &Request) -> Result<(), PlacementError> {
        if req.vcpus == 0 {
            return Err(PlacementError::InvalidRequest("vcpus must be > 0".into()));
        }
        if req.memory == 0 {
            return Err(PlacementError::InvalidRequest("memory must be > 0".into()));
        }
        Ok(())
    }

    /// Chooses a pair without reserving it.
    pub fn place(&mut self, req: &Request) -> Result<Placement, PlacementError> {
        let choice = self.choose(req)?;
        Ok(self.placement(&choice))
    }

    /// Chooses a pair and reserves it under `key` in one step.
    pub fn place_and_reserve(&mut self, key: &str, req: &Request) -> Result<Placement, PlacementError> {
        if self.reservations.contains_key(key) {
            return Err(PlacementError::ReservationConflict(key.into()));
        }
        let choice = self.choose(req)?;
        self.commit(key, req, &choice);
        Ok(self.placement(&choice))
    }

    /// Greedy placement of many requests in order, each reserved before the next is placed.
    pub fn place_many(&mut self, keys: &[String], reqs: &[Request]) -> Vec<Result<Placement, PlacementError>> {
        keys.iter().zip(reqs).map(|(key, req)| self.place_and_reserve(key, req)).collect()
    }

    fn placement(&self, c: &Choice) -> Placement {
        let host = |slot: u32| self.inv.hosts.text[slot as usize].uuid.to_string();
        let storage = |id: u32| self.inv.storage(id).uuid.to_string();
        Placement {
            primary_host: host(c.primary),
            primary_storage: storage(c.primary_storage.root),
            primary_data_storage: storage(c.primary_storage.data),
            secondary_host: host(c.secondary),
            secondary_storage: storage(c.secondary_storage.storage),
        }
    }

    fn choose(&mut self, req: &Request) -> Result<Choice, PlacementError> {
        Self::validate(req)?;
        let kind = req.strategy.score();
        self.ensure_index(kind);
        let r = self.inv.resolve(req);
        let zones = match (r.host, r.cluster) {
            (Pin::Any, Pin::Any) => self.candidate_zones(r.zone, r.l2s.as_deref()),
            _ => Vec::new(),
        };
        let index = self.indexes[kind as usize].as_deref().expect("ensured above");
        let mut search = PairSearch::new(&self.inv, index, kind, &r);
        let found = match (r.host, r.cluster, r.root_storage) {
            (Pin::Nothing, _, _) | (Pin::Any, Pin::Nothing, _) => None,
            (Pin::Is(slot), _, _) => search.try_primary(self.inv.index_key(kind, slot)),
            (Pin::Any, Pin::Is(cluster), _) => search.in_order(self.inv.ordered_members(kind, &[cluster])),
            // A root-storage pin narrows the primary to the clusters it is attached to.
            (Pin::Any, Pin::Any, Pin::Is(id)) => {
                search.in_order(self.inv.ordered_members(kind, &self.inv.storage(id).clusters))
            }
            (Pin::Any, Pin::Any, _) => search.across_zones(&zones),
        };
        if let Some(choice) = found {
            return Ok(choice);
        }
        let considered = self.inv.live_host_count();
        let inv = &self.inv;
        let (phase, removed) = match search.first_primary {
            None => (Phase::Primary, inv.count_rejections(|slot| inv.check_primary(slot, &r).map(drop))),
            Some((slot, storage)) => {
                let side = inv.primary_side(slot, storage);
                (Phase::Secondary, inv.count_rejections(|s| inv.check_secondary(s, &r, &side).map(drop)))
            }
        };
        Err(PlacementError::NoHostAvailable { phase, removed, considered })
    }

    // ---- reservations ----

    /// Reserves a placement chosen earlier (or elsewhere, e.g. by the batch solver) after checking that it
    /// still satisfies every hard rule.
    pub fn reserve(&mut self, key: &str, req: &Request, placement: &Placement) -> Result<(), PlacementError> {
        Self::validate(req)?;
        if self.reservations.contains_key(key) {
            return Err(PlacementError::ReservationConflict(key.into()));
        }
        let choice = self.verify(req, placement)?;
        self.commit(key, req, &choice);
        Ok(())
    }

    fn verify(&self, req: &Request, pl: &Placement) -> Result<Choice, PlacementError> {
        let stale = |what: String| PlacementError::StalePlacement(what);
        let inv = &self.inv;
        let host = |uuid: &str| inv.host_slots.get(uuid).copied().ok_or_else(|| stale(format!("unknown host {uuid}")));
        let storage =
            |uuid: &str| inv.storage_ids.get(uuid).copied().ok_or_else(|| stale(format!("unknown storage {uuid}")));
        let (primary, secondary) = (host(&pl.primary_host)?, host(&pl.secondary_host)?);
        let primary_storage =
            PrimaryStorage { root: storage(&pl.primary_storage)?, data: storage(&pl.primary_data_storage)? };
        let secondary_id = storage(&pl.secondary_storage)?;
        let r = inv.resolve(req);
        inv.primary_host_rules(primary, &r)
            .map_err(|rule| stale(format!("primary host fails rule {}", rule.name())))?;
        inv.primary_storage_room(primary as usize, &r, primary_storage)
            .ok_or_else(|| stale("primary storage has no room".into()))?;
        let side = inv.primary_side(primary, primary_storage);
        inv.secondary_host_rules(secondary, &r, &side)
            .map_err(|rule| stale(format!("secondary host fails rule {}", rule.name())))?;
        let (_, same) = inv
            .secondary_storage_room(secondary as usize, &r, &side, secondary_id)
            .ok_or_else(|| stale("secondary storage has no room".into()))?;
        Ok(Choice {
            primary,
            primary_storage,
            secondary,
            secondary_storage: SecondaryStorage { storage: secondary_id, same },
        })
    }

    fn commit(&mut self, key: &str, req: &Request, c: &Choice) {
        let r = self.inv.resolve(req);
        let held = Held { cpu: req.vcpus, memory: r.memory_taken, vms: 1 };
        let (primary_takes, secondary_take) = if c.primary_storage.root == c.primary_storage.data {
            (vec![(c.primary_storage.root, r.both_take)], r.secondary_take)
        } else {
            (vec![(c.primary_storage.root, r.root_take), (c.primary_storage.data, r.data_take)], r.secondary_take)
        };
        let mut takes = Vec::with_capacity(3);
        for (slot, storage_takes) in
            [(c.primary, primary_takes), (c.secondary, vec![(c.secondary_storage.storage, secondary_take)])]
        {
            self.add_held(slot, held, 1);
            let host_key = self.inv.hosts.uuid_key[slot as usize];
            for (id, bytes) in storage_takes {
                let storage = self.inv.storages[id as usize].as_mut().expect("verified storage");
                let local = (storage.kind == StorageKind::Local).then_some(host_key);
                let disk = storage.disk_mut(host_key).expect("verified disk");
                disk.available -= bytes;
                disk.held += bytes;
                takes.push((id, local, bytes));
            }
        }
        let generation = |slot: u32| (slot, self.inv.hosts.generation[slot as usize]);
        let hosts = [generation(c.primary), generation(c.secondary)];
        self.reservations.insert(key.into(), Reservation { hosts, held, takes });
    }

    /// Adds (`sign` = 1) or gives back (`sign` = -1) what one VM holds on a host, keeping the indexes in step.
    fn add_held(&mut self, slot: u32, held: Held, sign: i64) {
        self.unindex(slot);
        let s = slot as usize;
        let h = &mut self.inv.hosts;
        let apply32 = |v: u32, d: u32| (v as i64 + sign * d as i64).clamp(0, u32::MAX as i64) as u32;
        let apply64 = |v: u64, d: u64| (v as i128 + sign as i128 * d as i128).clamp(0, u64::MAX as i128) as u64;
        h.cpu_used[s] = apply32(h.cpu_used[s], held.cpu);
        h.memory_used[s] = apply64(h.memory_used[s], held.memory);
        h.vm_count[s] = apply32(h.vm_count[s], held.vms);
        h.ft_vm_count[s] = apply32(h.ft_vm_count[s], held.vms);
        h.ft_vcpu_count[s] = apply32(h.ft_vcpu_count[s], held.cpu);
        let total = &mut h.held[s];
        total.cpu = apply32(total.cpu, held.cpu);
        total.memory = apply64(total.memory, held.memory);
        total.vms = apply32(total.vms, held.vms);
        self.index(slot);
    }

    /// Gives back everything reserved under `key`; false when nothing was held (release is idempotent).
    pub fn release(&mut self, key: &str) -> bool {
        let Some(res) = self.reservations.remove(key) else {
            return false;
        };
        for (slot, generation) in res.hosts {
            let s = slot as usize;
            if self.inv.hosts.live[s] && self.inv.hosts.generation[s] == generation {
                self.add_held(slot, res.held, -1);
            }
        }
        for (id, local_host, bytes) in res.takes {
            let Some(storage) = self.inv.storages[id as usize].as_mut() else {
                continue;
            };
            let disk = match &local_host {
                Some(host) => storage.disks.get_mut(host).map(|(_, disk)| disk),
                None => Some(&mut storage.pool),
            };
            if let Some(disk) = disk {
                disk.available += bytes;
                disk.held -= bytes;
            }
        }
        true
    }

    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }

    // ---- inspection ----

    pub fn host_usage(&self, uuid: &str) -> Option<Usage> {
        let s = *self.inv.host_slots.get(uuid)? as usize;
        let h = &self.inv.hosts;
        Some(Usage {
            cpu_used: h.cpu_used[s],
            memory_used: h.memory_used[s],
            vm_count: h.vm_count[s],
            ft_vm_count: h.ft_vm_count[s],
            ft_vcpu_count: h.ft_vcpu_count[s],
        })
    }

    /// Available bytes of a storage (of one host's disk for local storage).
    pub fn storage_available(&self, uuid: &str, host_uuid: Option<&str>) -> Option<i64> {
        let storage = self.inv.storage(*self.inv.storage_ids.get(uuid)?);
        match host_uuid {
            Some(h) => storage.disk(uuid_order_key(h)?).map(|d| d.available),
            None => Some(storage.pool.available),
        }
    }

    /// Every live host with its effective usage (base facts plus reservations).
    pub fn host_specs(&self) -> Vec<HostSpec> {
        let inv = &self.inv;
        let h = &inv.hosts;
        let mut slots: Vec<u32> = inv.host_slots.values().copied().collect();
        slots.sort_unstable_by_key(|&slot| h.uuid_key[slot as usize]);
        slots
            .into_iter()
            .map(|slot| {
                let s = slot as usize;
                let t = &h.text[s];
                HostSpec {
                    uuid: t.uuid.to_string(),
                    zone_uuid: inv.zones.name(h.zone[s]).into(),
                    cluster_uuid: inv.clusters.name(h.cluster[s]).into(),
                    cpu_num: h.cpu_num[s],
                    memory_total: h.memory_total[s],
                    state: t.state.to_string(),
                    status: t.status.to_string(),
                    hypervisor: t.hypervisor.to_string(),
                    cpu_used: h.cpu_used[s],
                    memory_used: h.memory_used[s],
                    vm_count: h.vm_count[s],
                    ft_vm_count: h.ft_vm_count[s],
                    ft_vcpu_count: h.ft_vcpu_count[s],
                    max_ft_vms: h.max_ft_vms[s],
                    max_ft_vcpus: h.max_ft_vcpus[s],
                    failure_domain: inv.failure_domains.name(h.failure_domain[s]).into(),
                    ft_address: h.flags[s] & crate::inventory::FT_ADDRESS != 0,
                }
            })
            .collect()
    }

    /// Every live storage with effective available bytes.
    pub fn storage_specs(&self) -> Vec<StorageSpec> {
        let mut specs: Vec<StorageSpec> = self
            .inv
            .storages
            .iter()
            .flatten()
            .map(|st| {
                let mut host_available: Vec<(String, i64)> =
                    st.disks.values().map(|(h, d)| (h.to_string(), d.available)).collect();
                host_available.sort();
                StorageSpec {
                    uuid: st.uuid.to_string(),
                    zone_uuid: st.zone_uuid.to_string(),
                    cluster_uuids: st.cluster_uuids.clone(),
                    available: st.pool.available,
                    kind: st.kind,
                    state: st.state.to_string(),
                    status: st.status.to_string(),
                    host_available,
                }
            })
            .collect();
        specs.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        specs
    }

    pub fn network(&self) -> Network {
        let inv = &self.inv;
        let mut l3s: Vec<(String, String)> =
            inv.l3_to_l2.iter().map(|(l3, &l2)| (l3.to_string(), inv.l2s.name(l2).to_string())).collect();
        l3s.sort();
        let clusters = (0..inv.clusters.len() as u32)
            .map(|c| {
                let l2s = inv.cluster_l2[c as usize].iter().map(|&l2| inv.l2s.name(l2).to_string()).collect();
                (inv.clusters.name(c).to_string(), l2s)
            })
            .collect();
        (l3s, clusters)
    }
}
