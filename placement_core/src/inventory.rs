//! The in-memory inventory: hosts as a structure of arrays indexed by slot, storages, and the network
//! attachments placement needs. Effective usage (base facts + reservations) is what the hot arrays hold.

use rustc_hash::FxHashMap;

use crate::model::{Config, HostSpec, Rule, RuleCounts, Score, StorageKind, StorageSpec};

/// Maps names (zone, cluster, failure domain, L2 uuids) to dense ids.
#[derive(Clone, Default)]
pub struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.into(), id);
        self.names.push(name.into());
        id
    }
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

pub const ENABLED: u8 = 1;
pub const CONNECTED: u8 = 2;
pub const KVM: u8 = 4;
pub const FT_ADDRESS: u8 = 8;

/// Hosts, one slot each; every array has the same length. Removed slots are reused.
#[derive(Clone, Default)]
pub struct Hosts {
    pub live: Vec<bool>,
    pub flags: Vec<u8>,
    pub zone: Vec<u32>,
    pub cluster: Vec<u32>,
    pub failure_domain: Vec<u32>,
    pub uuid_key: Vec<u128>,
    pub generation: Vec<u32>,
    pub cpu_num: Vec<u32>,
    pub cpu_capacity: Vec<u32>,
    pub cpu_used: Vec<u32>,
    pub memory_total: Vec<u64>,
    pub memory_used: Vec<u64>,
    pub vm_count: Vec<u32>,
    pub ft_vm_count: Vec<u32>,
    pub ft_vcpu_count: Vec<u32>,
    pub max_ft_vms: Vec<u32>,
    pub max_ft_vcpus: Vec<u32>,
    /// What reservations hold on the host (added to the base facts in the arrays above).
    pub held: Vec<Held>,
    pub text: Vec<HostText>,
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Held {
    pub cpu: u32,
    pub memory: u64,
    pub vms: u32,
}

/// Cold per-host strings kept only to answer snapshots.
#[derive(Clone, Default)]
pub struct HostText {
    pub uuid: Box<str>,
    pub state: Box<str>,
    pub status: Box<str>,
    pub hypervisor: Box<str>,
}

impl Hosts {
    /// Slots, removed ones included.
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    fn push_empty(&mut self) -> u32 {
        let slot = self.live.len() as u32;
        self.live.push(false);
        self.flags.push(0);
        self.zone.push(0);
        self.cluster.push(0);
        self.failure_domain.push(0);
        self.uuid_key.push(0);
        self.generation.push(0);
        self.cpu_num.push(0);
        self.cpu_capacity.push(0);
        self.cpu_used.push(0);
        self.memory_total.push(0);
        self.memory_used.push(0);
        self.vm_count.push(0);
        self.ft_vm_count.push(0);
        self.ft_vcpu_count.push(0);
        self.max_ft_vms.push(0);
        self.max_ft_vcpus.push(0);
        self.held.push(Held::default());
        self.text.push(HostText::default());
        slot
    }

    /// Free memory in bytes before the over-provisioning ratio (may be negative when over-committed).
    #[inline]
    pub fn free_memory(&self, slot: usize, config: &Config) -> i128 {
        self.memory_total[slot] as i128 - config.reserved_memory as i128 - self.memory_used[slot] as i128
    }
}

#[derive(Clone, Copy, Default, Debug)]
pub struct Disk {
    /// Effective available bytes (base minus what reservations hold).
    pub available: i64,
    pub held: i64,
}

#[derive(Clone)]
pub struct Storage {
    pub uuid: Box<str>,
    pub uuid_key: u128,
    pub zone_uuid: Box<str>,
    pub cluster_uuids: Vec<String>,
    pub clusters: Vec<u32>,
    pub kind: StorageKind,
    pub usable: bool,
    pub state: Box<str>,
    pub status: Box<str>,
    /// Shared storage: the pool. Local storage: unused.
    pub pool: Disk,
    /// Local storage: each host's own disk, by the host uuid's order key (and the uuid itself, for snapshots).
    pub disks: FxHashMap<u128, (Box<str>, Disk)>,
}

impl Storage {
    #[inline]
    pub fn disk(&self, host_key: u128) -> Option<&Disk> {
        match self.kind {
            StorageKind::Shared => Some(&self.pool),
            StorageKind::Local => self.disks.get(&host_key).map(|(_, disk)| disk),
        }
    }

    pub fn disk_mut(&mut self, host_key: u128) -> Option<&mut Disk> {
        match self.kind {
            StorageKind::Shared => Some(&mut self.pool),
            StorageKind::Local => self.disks.get_mut(&host_key).map(|(_, disk)| disk),
        }
    }

    #[inline]
    pub fn attached_to(&self, cluster: u32) -> bool {
        self.clusters.contains(&cluster)
    }
}

/// Everything placement reads, with no strategy index and no reservations (those live in the engine).
#[derive(Clone, Default)]
pub struct Inventory {
    pub config: Config,
    pub hosts: Hosts,
    pub host_slots: FxHashMap<Box<str>, u32>,
    free_slots: Vec<u32>,
    pub zones: Interner,
    pub clusters: Interner,
    pub failure_domains: Interner,
    pub l2s: Interner,
    /// Per cluster id: attached L2 ids, attached storage indexes, member host slots.
    pub cluster_l2: Vec<Vec<u32>>,
    pub cluster_storages: Vec<Vec<u32>>,
    pub cluster_hosts: Vec<Vec<u32>>,
    /// Per zone id: live hosts, and live hosts per failure domain (to know whether another domain exists).
    pub zone_hosts: Vec<u64>,
    pub zone_domain_hosts: FxHashMap<(u32, u32), u64>,
    /// Live hosts per (cluster, zone), and per cluster the zones it has hosts in.
    cluster_zone_hosts: FxHashMap<(u32, u32), u64>,
    cluster_zones: Vec<Vec<u32>>,
    /// Per (zone, storage): attached clusters with hosts in the zone; per zone: usable storages some host of the
    /// zone can reach. Tells the secondary search whether a storage other than the primary's exists at all.
    zone_storage_refs: FxHashMap<(u32, u32), u32>,
    pub zone_reachable_storages: FxHashMap<u32, u32>,
    /// Bumped whenever which zones carry which L2s may change (L2 attachments, a cluster's zones).
    pub topology_generation: u64,
    /// Per L2 id: the clusters it is attached to.
    l2_clusters: Vec<Vec<u32>>,
    pub l3_to_l2: FxHashMap<Box<str>, u32>,
    pub storages: Vec<Option<Storage>>,
    pub storage_ids: FxHashMap<Box<str>, u32>,
}

impl Inventory {
    pub fn new(config: Config) -> Self {
        Inventory { config, ..Default::default() }
    }

    pub fn live_host_count(&self) -> u64 {
        self.host_slots.len() as u64
    }

    fn cluster_id(&mut self, name: &str) -> u32 {
        let id = self.clusters.intern(name);
        let n = self.clusters.len();
        if self.cluster_l2.len() < n {
            self.cluster_l2.resize(n, Vec::new());
            self.cluster_storages.resize(n, Vec::new());
            self.cluster_hosts.resize(n, Vec::new());
            self.cluster_zones.resize(n, Vec::new());
        }
        id
    }

    fn zone_id(&mut self, name: &str) -> u32 {
        let id = self.zones.intern(name);
        if self.zone_hosts.len() < self.zones.len() {
            self.zone_hosts.resize(self.zones.len(), 0);
        }
        id
    }

    pub fn cpu_capacity(&self, cpu_num: u32) -> u32 {
        let cap = (cpu_num as f64 * self.config.cpu_overprovisioning_ratio).floor();
        cap.clamp(0.0, u32::MAX as f64) as u32
    }

    /// Inserts or replaces a host's base facts; what reservations hold on it stays on top. Returns its slot.
    pub fn upsert_host(&mut self, spec: &HostSpec, uuid_key: u128) -> u32 {
        let zone = self.zone_id(&spec.zone_uuid);
        let cluster = self.cluster_id(&spec.cluster_uuid);
        let fd = self.failure_domains.intern(&spec.failure_domain);
        let slot = match self.host_slots.get(spec.uuid.as_str()) {
            Some(&slot) => {
                self.detach_membership(slot);
                slot
            }
            None => {
                let slot = self.free_slots.pop().unwrap_or_else(|| self.hosts.push_empty());
                self.host_slots.insert(spec.uuid.as_str().into(), slot);
                let s = slot as usize;
                self.hosts.generation[s] = self.hosts.generation[s].wrapping_add(1);
                self.hosts.held[s] = Held::default();
                slot
            }
        };
        let s = slot as usize;
        let cpu_capacity = self.cpu_capacity(spec.cpu_num);
        let h = &mut self.hosts;
        let held = h.held[s];
        h.live[s] = true;
        h.flags[s] = ((spec.state == "Enabled") as u8 * ENABLED)
            | ((spec.status == "Connected") as u8 * CONNECTED)
            | ((spec.hypervisor == "KVM") as u8 * KVM)
            | (spec.ft_address as u8 * FT_ADDRESS);
        h.zone[s] = zone;
        h.cluster[s] = cluster;
        h.failure_domain[s] = fd;
        h.uuid_key[s] = uuid_key;
        h.cpu_num[s] = spec.cpu_num;
        h.cpu_used[s] = spec.cpu_used.saturating_add(held.cpu);
        h.memory_total[s] = spec.memory_total;
        h.memory_used[s] = spec.memory_used.saturating_add(held.memory);
        h.vm_count[s] = spec.vm_count.saturating_add(held.vms);
        h.ft_vm_count[s] = spec.ft_vm_count.saturating_add(held.vms);
        h.ft_vcpu_count[s] = spec.ft_vcpu_count.saturating_add(held.cpu);
        h.max_ft_vms[s] = spec.max_ft_vms;
        h.max_ft_vcpus[s] = spec.max_ft_vcpus;
        h.text[s] = HostText {
            uuid: spec.uuid.as_str().into(),
            state: spec.state.as_str().into(),
            status: spec.status.as_str().into(),
            hypervisor: spec.hypervisor.as_str().into(),
        };
        h.cpu_capacity[s] = cpu_capacity;
        self.cluster_hosts[cluster as usize].push(slot);
        self.zone_hosts[zone as usize] += 1;
        *self.zone_domain_hosts.entry((zone, fd)).or_insert(0) += 1;
        let in_cluster_zone = self.cluster_zone_hosts.entry((cluster, zone)).or_insert(0);
        *in_cluster_zone += 1;
        if *in_cluster_zone == 1 {
            self.cluster_zones[cluster as usize].push(zone);
            self.topology_generation += 1;
            for id in self.cluster_storages[cluster as usize].clone() {
                self.storage_reach(zone, id, 1);
            }
        }
        slot
    }

    /// Counts (`delta` = 1) or uncounts (-1) one attached cluster with hosts in `zone` for a usable storage.
    fn storage_reach(&mut self, zone: u32, id: u32, delta: i32) {
        if !self.storage(id).usable {
            return;
        }
        let refs = self.zone_storage_refs.entry((zone, id)).or_insert(0);
        let before = *refs;
        *refs = (*refs as i32 + delta) as u32;
        let reachable = self.zone_reachable_storages.entry(zone).or_insert(0);
        match (before, delta) {
            (0, 1) => *reachable += 1,
            (1, -1) => *reachable -= 1,
            _ => {}
        }
    }

    /// Counts or uncounts a storage for every zone its clusters have hosts in.
    fn storage_reach_all(&mut self, id: u32, delta: i32) {
        for c in self.storage(id).clusters.clone() {
            for zone in self.cluster_zones[c as usize].clone() {
                self.storage_reach(zone, id, delta);
            }
        }
    }

    fn detach_membership(&mut self, slot: u32) {
        let s = slot as usize;
        let (zone, cluster, fd) = (self.hosts.zone[s], self.hosts.cluster[s], self.hosts.failure_domain[s]);
        let members = &mut self.cluster_hosts[cluster as usize];
        if let Some(i) = members.iter().position(|&m| m == slot) {
            members.swap_remove(i);
        }
        self.zone_hosts[zone as usize] -= 1;
        if let Some(n) = self.zone_domain_hosts.get_mut(&(zone, fd)) {
            *n -= 1;
        }
        let in_cluster_zone = self.cluster_zone_hosts.get_mut(&(cluster, zone)).expect("counted when added");
        *in_cluster_zone -= 1;
        if *in_cluster_zone == 0 {
            self.cluster_zones[cluster as usize].retain(|&z| z != zone);
            self.topology_generation += 1;
            for id in self.cluster_storages[cluster as usize].clone() {
                self.storage_reach(zone, id, -1);
            }
        }
    }

    pub fn remove_host(&mut self, uuid: &str) -> Option<u32> {
        let slot = self.host_slots.remove(uuid)?;
        self.detach_membership(slot);
        let s = slot as usize;
        self.hosts.live[s] = false;
        self.hosts.held[s] = Held::default();
        self.free_slots.push(slot);
        Some(slot)
    }

    pub fn upsert_storage(&mut self, spec: &StorageSpec, uuid_key: u128, host_keys: &[u128]) {
        let clusters: Vec<u32> = spec.cluster_uuids.iter().map(|c| self.cluster_id(c)).collect();
        let previous = self.storage_ids.get(spec.uuid.as_str()).copied();
        let id = match previous {
            Some(id) => {
                self.detach_storage(id);
                id
            }
            None => {
                let id = self.storages.len() as u32;
                self.storages.push(None);
                self.storage_ids.insert(spec.uuid.as_str().into(), id);
                id
            }
        };
        let old = previous.and_then(|id| self.storages[id as usize].take());
        let held_pool = old.as_ref().map_or(0, |o| o.pool.held);
        let mut disks = FxHashMap::default();
        for ((host, available), &key) in spec.host_available.iter().zip(host_keys) {
            let held = old.as_ref().and_then(|o| o.disks.get(&key)).map_or(0, |(_, d)| d.held);
            disks.insert(key, (host.as_str().into(), Disk { available: available - held, held }));
        }
        for &c in &clusters {
            self.cluster_storages[c as usize].push(id);
        }
        self.storages[id as usize] = Some(Storage {
            uuid: spec.uuid.as_str().into(),
            uuid_key,
            zone_uuid: spec.zone_uuid.as_str().into(),
            cluster_uuids: spec.cluster_uuids.clone(),
            clusters,
            kind: spec.kind,
            usable: spec.state == "Enabled" && spec.status == "Connected",
            state: spec.state.as_str().into(),
            status: spec.status.as_str().into(),
            pool: Disk { available: spec.available - held_pool, held: held_pool },
            disks,
        });
        self.storage_reach_all(id, 1);
    }

    fn detach_storage(&mut self, id: u32) {
        if self.storages[id as usize].is_none() {
            return;
        }
        self.storage_reach_all(id, -1);
        for c in self.storage(id).clusters.clone() {
            self.cluster_storages[c as usize].retain(|&s| s != id);
        }
    }

    pub fn remove_storage(&mut self, uuid: &str) -> bool {
        let Some(id) = self.storage_ids.remove(uuid) else {
            return false;
        };
        self.detach_storage(id);
        self.storages[id as usize] = None;
        true
    }

    pub fn storage(&self, id: u32) -> &Storage {
        self.storages[id as usize].as_ref().expect("live storage id")
    }

    pub fn set_l3(&mut self, l3: &str, l2: &str) {
        let l2 = self.l2s.intern(l2);
        self.l3_to_l2.insert(l3.into(), l2);
    }

    pub fn attach_l2(&mut self, cluster: &str, l2: &str) {
        let c = self.cluster_id(cluster) as usize;
        let l2 = self.l2s.intern(l2);
        if !self.cluster_l2[c].contains(&l2) {
            self.cluster_l2[c].push(l2);
            if self.l2_clusters.len() <= l2 as usize {
                self.l2_clusters.resize(l2 as usize + 1, Vec::new());
            }
            self.l2_clusters[l2 as usize].push(c as u32);
            self.topology_generation += 1;
        }
    }

    pub fn detach_l2(&mut self, cluster: &str, l2: &str) {
        if let (Some(c), Some(l2)) = (self.clusters.get(cluster), self.l2s.get(l2)) {
            self.cluster_l2[c as usize].retain(|&x| x != l2);
            if let Some(clusters) = self.l2_clusters.get_mut(l2 as usize) {
                clusters.retain(|&x| x != c);
            }
            self.topology_generation += 1;
        }
    }

    pub fn cluster_zones(&self, cluster: u32) -> &[u32] {
        &self.cluster_zones[cluster as usize]
    }

    pub fn l2_clusters(&self, l2: u32) -> &[u32] {
        self.l2_clusters.get(l2 as usize).map_or(&[], Vec::as_slice)
    }

    /// A host's strategy score (lower is better): see docs/placement-semantics.md.
    pub fn score(&self, kind: Score, slot: u32) -> u64 {
        let s = slot as usize;
        let h = &self.hosts;
        match kind {
            Score::VmCount => h.vm_count[s] as u64,
            Score::CpuUsage => match h.cpu_capacity[s] {
                0 => u64::MAX,
                cap => ((h.cpu_used[s] as u64) << 40) / cap as u64,
            },
            Score::MemoryUsage => match h.memory_total[s] {
                0 => u64::MAX,
                total => (((h.memory_used[s] as u128) << 40) / total as u128).min(u64::MAX as u128) as u64,
            },
            Score::FreeMemory => u64::MAX - h.free_memory(s, &self.config).clamp(0, u64::MAX as i128) as u64,
        }
    }

    /// (score, uuid order key, slot): the order hosts are preferred in.
    pub fn index_key(&self, kind: Score, slot: u32) -> (u64, u128, u32) {
        (self.score(kind, slot), self.hosts.uuid_key[slot as usize], slot)
    }

    /// The hosts of some clusters in strategy order, as index keys (clusters are small: sorting beats walking an
    /// index).
    pub fn ordered_members(&self, kind: Score, clusters: &[u32]) -> Vec<(u64, u128, u32)> {
        let members = clusters.iter().flat_map(|&c| &self.cluster_hosts[c as usize]);
        let mut keys: Vec<_> = members.map(|&s| self.index_key(kind, s)).collect();
        keys.sort_unstable();
        keys
    }

    /// Counts, over every live host in slot order (a sequential pass over the arrays), the rule that rejects it.
    pub fn count_rejections(&self, check: impl Fn(u32) -> Result<(), Rule>) -> RuleCounts {
        let mut counts = RuleCounts::default();
        for (slot, &live) in self.hosts.live.iter().enumerate() {
            if live {
                if let Err(rule) = check(slot as u32) {
                    counts.add(rule);
                }
            }
        }
        counts
    }
}
