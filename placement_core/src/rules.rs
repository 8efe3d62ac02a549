//! The filter pipeline and storage choice: one small check per rule, each naming the rule that rejects.

use crate::inventory::{Inventory, Storage, CONNECTED, ENABLED, FT_ADDRESS, KVM};
use crate::model::{Request, Rule, StorageKind, Strategy};

/// A location pin after lookup: no pin, a known id, or a uuid nothing matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    Any,
    Is(u32),
    Nothing,
}

impl Pin {
    #[inline]
    pub fn admits(self, id: u32) -> bool {
        match self {
            Pin::Any => true,
            Pin::Is(x) => x == id,
            Pin::Nothing => false,
        }
    }
}

/// A request with its uuids looked up once, before any host is examined.
pub struct Resolved<'a> {
    pub req: &'a Request,
    pub zone: Pin,
    pub cluster: Pin,
    pub host: Pin,
    pub root_storage: Pin,
    pub data_storage: Pin,
    /// L2 ids the host's cluster must carry; None when some L3 is unknown (attached nowhere).
    pub l2s: Option<Vec<u32>>,
    pub max_instance_per_host: u32,
    pub memory_taken: u64,
    pub root_take: i64,
    pub data_take: i64,
    pub both_take: i64,
    pub secondary_take: i64,
}

/// The primary's storages: root volume, and data volumes (the same id unless pinned elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimaryStorage {
    pub root: u32,
    pub data: u32,
}

/// What the chosen primary means to its secondary.
pub struct PrimarySide {
    pub slot: u32,
    pub zone: u32,
    pub failure_domain: u32,
    pub storage: PrimaryStorage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondaryStorage {
    pub storage: u32,
    /// The same shared storage as one of the primary's (the soft rule is broken).
    pub same: bool,
}

impl Inventory {
    pub fn resolve<'a>(&self, req: &'a Request) -> Resolved<'a> {
        let pin = |uuid: &Option<String>, lookup: &dyn Fn(&str) -> Option<u32>| match uuid {
            None => Pin::Any,
            Some(u) => lookup(u).map_or(Pin::Nothing, Pin::Is),
        };
        let l2s = req.l3_uuids.iter().map(|l3| self.l3_to_l2.get(l3.as_str()).copied()).collect();
        let consume = |bytes: u64| self.consume(bytes);
        Resolved {
            req,
            zone: pin(&req.zone_uuid, &|u| self.zones.get(u)),
            cluster: pin(&req.cluster_uuid, &|u| self.clusters.get(u)),
            host: pin(&req.host_uuid, &|u| self.host_slots.get(u).copied()),
            root_storage: pin(&req.root_storage_uuid, &|u| self.storage_ids.get(u).copied()),
            data_storage: pin(&req.data_storage_uuid, &|u| self.storage_ids.get(u).copied()),
            l2s,
            max_instance_per_host: if req.strategy == Strategy::MaxInstancePerHost {
                req.max_instance_per_host
            } else {
                0
            },
            memory_taken: (req.memory as f64 / self.config.memory_overprovisioning_ratio).ceil() as u64,
            root_take: consume(req.root_bytes),
            data_take: consume(req.data_bytes),
            both_take: consume(req.root_bytes + req.data_bytes),
            secondary_take: consume(req.secondary_bytes()),
        }
    }

    /// What `bytes` of volumes take from a storage after its over-provisioning ratio.
    pub fn consume(&self, bytes: u64) -> i64 {
        (bytes as f64 / self.config.storage_overprovisioning_ratio).ceil() as i64
    }

    /// Rules 1-3, shared by both roles.
    #[inline]
    fn host_condition(&self, s: usize) -> Result<(), Rule> {
        let f = self.hosts.flags[s];
        if f & ENABLED == 0 {
            return Err(Rule::HostState);
        }
        if f & CONNECTED == 0 {
            return Err(Rule::HostStatus);
        }
        if f & KVM == 0 {
            return Err(Rule::Hypervisor);
        }
        Ok(())
    }

    /// Rules 6-11, shared by both roles.
    #[inline]
    fn host_capacity(&self, s: usize, r: &Resolved) -> Result<(), Rule> {
        let h = &self.hosts;
        let Some(l2s) = &r.l2s else {
            return Err(Rule::L2Attachment);
        };
        let attached = &self.cluster_l2[h.cluster[s] as usize];
        if !l2s.iter().all(|l2| attached.contains(l2)) {
            return Err(Rule::L2Attachment);
        }
        if h.flags[s] & FT_ADDRESS == 0 {
            return Err(Rule::FtNetwork);
        }
        let vcpus = r.req.vcpus as u64;
        if (h.max_ft_vms[s] != 0 && h.ft_vm_count[s] as u64 + 1 > h.max_ft_vms[s] as u64)
            || (h.max_ft_vcpus[s] != 0 && h.ft_vcpu_count[s] as u64 + vcpus > h.max_ft_vcpus[s] as u64)
        {
            return Err(Rule::FtLimits);
        }
        if r.max_instance_per_host != 0 && h.vm_count[s] >= r.max_instance_per_host {
            return Err(Rule::MaxInstancePerHost);
        }
        if h.cpu_used[s] as u64 + vcpus > h.cpu_capacity[s] as u64 {
            return Err(Rule::Cpu);
        }
        let free = h.free_memory(s, &self.config);
        if free < 0 || (free as f64) * self.config.memory_overprovisioning_ratio < r.req.memory as f64 {
            return Err(Rule::Memory);
        }
        Ok(())
    }

    /// Rules 1-11 for the primary.
    pub fn primary_host_rules(&self, slot: u32, r: &Resolved) -> Result<(), Rule> {
        let s = slot as usize;
        self.host_condition(s)?;
        let h = &self.hosts;
        if !(r.zone.admits(h.zone[s]) && r.cluster.admits(h.cluster[s]) && r.host.admits(slot)) {
            return Err(Rule::Location);
        }
        self.host_capacity(s, r)
    }

    /// Rules 1-11 for the secondary of `p`.
    pub fn secondary_host_rules(&self, slot: u32, r: &Resolved, p: &PrimarySide) -> Result<(), Rule> {
        let s = slot as usize;
        self.host_condition(s)?;
        let h = &self.hosts;
        if !(h.zone[s] == p.zone && r.zone.admits(h.zone[s]) && r.cluster.admits(h.cluster[s])) {
            return Err(Rule::Location);
        }
        if slot == p.slot {
            return Err(Rule::HostAntiAffinity);
        }
        self.host_capacity(s, r)
    }

    /// The bytes available to host `s` on `storage` if, after taking `take`, the reserve stays free.
    #[inline]
    fn room(&self, storage: &Storage, s: usize, take: i64) -> Option<i64> {
        if !storage.usable || !storage.attached_to(self.hosts.cluster[s]) {
            return None;
        }
        let disk = storage.disk(self.hosts.uuid_key[s])?;
        (disk.available - take >= self.config.storage_reserved_capacity as i64).then_some(disk.available)
    }

    fn live_storage(&self, id: u32) -> Option<&Storage> {
        self.storages.get(id as usize).and_then(Option::as_ref)
    }

    /// Whether the primary on host `s` can put its root volume on `root` and data volumes on `data`;
    /// answers the root storage's available bytes (the ranking key).
    pub fn primary_storage_room(&self, s: usize, r: &Resolved, choice: PrimaryStorage) -> Option<i64> {
        let data_ok = match r.data_storage {
            Pin::Any => choice.data == choice.root,
            pin => pin.admits(choice.data),
        };
        if !(data_ok && r.root_storage.admits(choice.root)) {
            return None;
        }
        let root = self.live_storage(choice.root)?;
        if choice.root == choice.data {
            return self.room(root, s, r.both_take);
        }
        self.room(self.live_storage(choice.data)?, s, r.data_take)?;
        self.room(root, s, r.root_take)
    }

    /// Rule 12 for the primary: the best storage choice (most available, then uuid).
    pub fn choose_primary_storage(&self, s: usize, r: &Resolved) -> Option<PrimaryStorage> {
        let attached = &self.cluster_storages[self.hosts.cluster[s] as usize];
        let roots: &[u32] = match &r.root_storage {
            Pin::Any => attached,
            Pin::Is(id) => std::slice::from_ref(id),
            Pin::Nothing => &[],
        };
        let mut best: Option<(i64, u128, PrimaryStorage)> = None;
        for &root in roots {
            let data = match r.data_storage {
                Pin::Is(d) => d,
                _ => root,
            };
            let choice = PrimaryStorage { root, data };
            if let Some(avail) = self.primary_storage_room(s, r, choice) {
                let key = self.storage(root).uuid_key;
                if best.is_none_or(|(a, k, _)| (avail, std::cmp::Reverse(key)) > (a, std::cmp::Reverse(k))) {
                    best = Some((avail, key, choice));
                }
            }
        }
        best.map(|(_, _, c)| c)
    }

    fn shares_storage(&self, storage: &Storage, id: u32, p: &PrimarySide) -> bool {
        storage.kind == StorageKind::Shared && (id == p.storage.root || id == p.storage.data)
    }

    /// What the primary of `p` takes from storage `id` (0 when it uses none of it).
    fn primary_take_from(&self, id: u32, r: &Resolved, p: &PrimarySide) -> i64 {
        match (id == p.storage.root, id == p.storage.data) {
            (true, true) => r.both_take,
            (true, false) => r.root_take,
            (false, true) => r.data_take,
            (false, false) => 0,
        }
    }

    /// Whether the secondary on host `s` fits on storage `id`; answers its available bytes.
    pub fn secondary_storage_room(&self, s: usize, r: &Resolved, p: &PrimarySide, id: u32) -> Option<(i64, bool)> {
        let storage = self.live_storage(id)?;
        let same = self.shares_storage(storage, id, p);
        let already = if same { self.primary_take_from(id, r, p) } else { 0 };
        self.room(storage, s, already + r.secondary_take).map(|avail| (avail, same))
    }

    /// Rule 12 for the secondary: prefer a storage other than the primary's, then most available, then uuid.
    pub fn choose_secondary_storage(&self, s: usize, r: &Resolved, p: &PrimarySide) -> Option<SecondaryStorage> {
        let mut best: Option<(bool, i64, u128, u32)> = None;
        for &id in &self.cluster_storages[self.hosts.cluster[s] as usize] {
            if let Some((avail, same)) = self.secondary_storage_room(s, r, p, id) {
                let key = self.storage(id).uuid_key;
                let better = best.is_none_or(|(bs, ba, bk, _)| {
                    (same, std::cmp::Reverse(avail), key) < (bs, std::cmp::Reverse(ba), bk)
                });
                if better {
                    best = Some((same, avail, key, id));
                }
            }
        }
        best.map(|(same, _, _, storage)| SecondaryStorage { storage, same })
    }

    /// Whether host `s` failed rule 12 only because the primary's volumes share its storage: then another
    /// primary (on other storage) could still use it, so a failed secondary search proves nothing about the zone.
    pub fn storage_contended(&self, s: usize, r: &Resolved, p: &PrimarySide) -> bool {
        self.cluster_storages[self.hosts.cluster[s] as usize].iter().any(|&id| {
            let storage = self.storage(id);
            self.shares_storage(storage, id, p) && self.room(storage, s, r.secondary_take).is_some()
        })
    }

    pub fn check_primary(&self, slot: u32, r: &Resolved) -> Result<PrimaryStorage, Rule> {
        self.primary_host_rules(slot, r)?;
        self.choose_primary_storage(slot as usize, r).ok_or(Rule::PrimaryStorage)
    }

    pub fn check_secondary(&self, slot: u32, r: &Resolved, p: &PrimarySide) -> Result<SecondaryStorage, Rule> {
        self.secondary_host_rules(slot, r, p)?;
        self.choose_secondary_storage(slot as usize, r, p).ok_or(Rule::PrimaryStorage)
    }

    pub fn primary_side(&self, slot: u32, storage: PrimaryStorage) -> PrimarySide {
        let s = slot as usize;
        PrimarySide { slot, zone: self.hosts.zone[s], failure_domain: self.hosts.failure_domain[s], storage }
    }
}
