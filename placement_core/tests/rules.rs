//! Every rule and edge of docs/placement-semantics.md, on the pure-Rust API.

use placement_core::{
    Config, Engine, HostSpec, Phase, Placement, PlacementError, Request, Rule, StorageKind, StorageSpec, Strategy,
};

const GIB: u64 = 1 << 30;
const ZONE: &str = "00000000000000000000000000000a01";
const ZONE2: &str = "00000000000000000000000000000a02";
const CLUSTER: &str = "00000000000000000000000000000c01";
const CLUSTER2: &str = "00000000000000000000000000000c02";
const STORAGE: &str = "00000000000000000000000000000501";
const STORAGE2: &str = "00000000000000000000000000000502";
const L3: &str = "000000000000000000000000000000f3";
const L2: &str = "000000000000000000000000000000f2";

fn host_uuid(n: u32) -> String {
    format!("{n:032x}")
}

fn host(n: u32, cluster: &str) -> HostSpec {
    let zone = if cluster == CLUSTER2 { ZONE2 } else { ZONE };
    let mut h = HostSpec::new(&host_uuid(n), zone, cluster, 8, 17 * GIB);
    h.failure_domain = format!("rack{n}");
    h
}

/// Hosts 1..=n in CLUSTER of ZONE, one shared storage of 1 TiB, one L3.
fn engine_with(hosts: &[HostSpec]) -> Engine {
    let mut e = Engine::new(Config::default());
    for h in hosts {
        e.upsert_host(h).unwrap();
    }
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER], 1024 * GIB as i64)).unwrap();
    e.set_l3(L3, L2);
    e.attach_l2(CLUSTER, L2);
    e
}

fn hosts(n: u32) -> Vec<HostSpec> {
    (1..=n).map(|i| host(i, CLUSTER)).collect()
}

fn request(vcpus: u32, memory: u64) -> Request {
    let mut r = Request::new(vcpus, memory);
    r.l3_uuids = vec![L3.into()];
    r
}

fn no_host(result: Result<Placement, PlacementError>) -> (Phase, Rule, Vec<(Rule, u64)>) {
    match result {
        Err(PlacementError::NoHostAvailable { phase, removed, considered }) => {
            let counts: Vec<(Rule, u64)> =
                Rule::ALL.into_iter().filter(|r| removed.get(*r) > 0).map(|r| (r, removed.get(r))).collect();
            assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), considered, "every host is counted once");
            (phase, removed.emptied_by(), counts)
        }
        other => panic!("expected NoHostAvailable, got {other:?}"),
    }
}

#[test]
fn pair_lands_on_two_hosts() {
    let mut e = engine_with(&hosts(2));
    let p = e.place_and_reserve("g", &request(2, GIB)).unwrap();
    assert_ne!(p.primary_host, p.secondary_host);
    assert_eq!(p.primary_storage, STORAGE);
    assert_eq!(p.secondary_storage, STORAGE);
    for h in [&p.primary_host, &p.secondary_host] {
        let u = e.host_usage(h).unwrap();
        assert_eq!((u.cpu_used, u.memory_used, u.vm_count, u.ft_vm_count, u.ft_vcpu_count), (2, GIB, 1, 1, 2));
    }
}

#[test]
fn one_host_is_not_enough_hard_anti_affinity() {
    let mut e = engine_with(&hosts(1));
    let (phase, rule, counts) = no_host(e.place(&request(1, GIB)));
    assert_eq!((phase, rule), (Phase::Secondary, Rule::HostAntiAffinity));
    assert_eq!(counts, vec![(Rule::HostAntiAffinity, 1)]);
}

#[test]
fn cpu_over_provisioning_and_exact_fit() {
    // 8 cores x ratio 10 = 80 vCPUs.
    let mut e = engine_with(&hosts(2));
    e.place_and_reserve("a", &request(79, GIB)).unwrap();
    e.place_and_reserve("b", &request(1, GIB)).unwrap(); // exact fit: 80 of 80
    let (_, rule, counts) = no_host(e.place(&request(1, GIB)));
    assert_eq!(rule, Rule::Cpu);
    assert_eq!(counts, vec![(Rule::Cpu, 2)]);
    let mut e = Engine::new(Config { cpu_overprovisioning_ratio: 1.0, ..Config::default() });
    for h in hosts(2) {
        e.upsert_host(&h).unwrap();
    }
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER], 1024 * GIB as i64)).unwrap();
    assert!(e.place(&Request::new(8, GIB)).is_ok());
    assert_eq!(no_host(e.place(&Request::new(9, GIB))).1, Rule::Cpu);
}

#[test]
fn memory_exact_fit_after_reserved_memory() {
    // 17 GiB total - 1 GiB kvm.reservedMemory = 16 GiB usable.
    let mut e = engine_with(&hosts(2));
    assert!(e.place(&request(1, 16 * GIB)).is_ok());
    let (_, rule, _) = no_host(e.place(&request(1, 16 * GIB + 1)));
    assert_eq!(rule, Rule::Memory);
    e.place_and_reserve("a", &request(1, 16 * GIB)).unwrap();
    assert_eq!(no_host(e.place(&request(1, 1))).1, Rule::Memory);
}

#[test]
fn memory_over_provisioning_takes_size_over_ratio() {
    let mut e = Engine::new(Config { memory_overprovisioning_ratio: 2.0, ..Config::default() });
    for h in hosts(2) {
        e.upsert_host(&h).unwrap();
    }
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER], 1024 * GIB as i64)).unwrap();
    let p = e.place_and_reserve("a", &Request::new(1, 32 * GIB)).unwrap(); // 16 GiB free x 2
    assert_eq!(e.host_usage(&p.primary_host).unwrap().memory_used, 16 * GIB);
    assert_eq!(no_host(e.place(&Request::new(1, 1))).1, Rule::Memory);
}

#[test]
fn host_condition_rules_are_counted_in_order() {
    let mut hs = hosts(6);
    hs[0].state = "Disabled".into();
    hs[1].status = "Disconnected".into();
    hs[2].hypervisor = "ESX".into();
    hs[3].ft_address = false;
    hs[4].max_ft_vms = 1;
    hs[4].ft_vm_count = 1;
    hs[5].max_ft_vcpus = 4;
    hs[5].ft_vcpu_count = 2;
    let mut e = engine_with(&hs);
    let (phase, rule, counts) = no_host(e.place(&request(4, GIB)));
    assert_eq!(phase, Phase::Primary);
    assert_eq!(rule, Rule::FtLimits);
    assert_eq!(
        counts,
        vec![
            (Rule::HostState, 1),
            (Rule::HostStatus, 1),
            (Rule::Hypervisor, 1),
            (Rule::FtNetwork, 1),
            (Rule::FtLimits, 2)
        ]
    );
    // host 6 takes 2 more FT vCPUs (4 of 4): exact fit of the FT vCPU limit.
    let mut hs = hosts(2);
    hs[1].max_ft_vcpus = 4;
    hs[1].ft_vcpu_count = 2;
    let mut e = engine_with(&hs);
    let p = e.place_and_reserve("a", &request(2, GIB)).unwrap();
    assert!([p.primary_host, p.secondary_host].contains(&host_uuid(2)));
    assert_eq!(no_host(e.place(&request(1, GIB))).1, Rule::FtLimits);
}

#[test]
fn ft_vm_limit_counts_primaries_and_secondaries() {
    let mut hs = hosts(2);
    for h in &mut hs {
        h.max_ft_vms = 2;
    }
    let mut e = engine_with(&hs);
    e.place_and_reserve("a", &request(1, GIB)).unwrap();
    e.place_and_reserve("b", &request(1, GIB)).unwrap();
    assert_eq!(no_host(e.place(&request(1, GIB))).1, Rule::FtLimits);
    assert!(e.release("a"));
    assert!(e.place(&request(1, GIB)).is_ok());
}

#[test]
fn l2_attachment_is_required_for_every_l3() {
    let mut e = engine_with(&hosts(2));
    let mut r = request(1, GIB);
    r.l3_uuids.push("000000000000000000000000000000e3".into()); // unknown L3: attached nowhere
    assert_eq!(no_host(e.place(&r)).1, Rule::L2Attachment);
    e.set_l3("000000000000000000000000000000e3", "000000000000000000000000000000e2");
    assert_eq!(no_host(e.place(&r)).1, Rule::L2Attachment);
    e.attach_l2(CLUSTER, "000000000000000000000000000000e2");
    assert!(e.place(&r).is_ok());
    e.detach_l2(CLUSTER, L2);
    assert_eq!(no_host(e.place(&r)).1, Rule::L2Attachment);
}

#[test]
fn host_pin_binds_the_primary_only() {
    let mut e = engine_with(&hosts(3));
    let mut r = request(1, GIB);
    r.host_uuid = Some(host_uuid(3));
    let p = e.place(&r).unwrap();
    assert_eq!(p.primary_host, host_uuid(3));
    assert_ne!(p.secondary_host, host_uuid(3));
    r.host_uuid = Some("ffffffffffffffffffffffffffffffff".into());
    let (phase, rule, counts) = no_host(e.place(&r));
    assert_eq!((phase, rule, counts), (Phase::Primary, Rule::Location, vec![(Rule::Location, 3)]));
}

#[test]
fn cluster_and_zone_pins_bind_both() {
    let mut hs = hosts(2);
    hs.extend([host(11, CLUSTER2), host(12, CLUSTER2)]);
    let mut e = engine_with(&hs);
    e.upsert_storage(&StorageSpec::shared(STORAGE2, ZONE2, &[CLUSTER2], 1024 * GIB as i64)).unwrap();
    e.attach_l2(CLUSTER2, L2);
    let mut r = request(1, GIB);
    r.cluster_uuid = Some(CLUSTER2.into());
    let p = e.place(&r).unwrap();
    let in_cluster2 = [host_uuid(11), host_uuid(12)];
    assert!(in_cluster2.contains(&p.primary_host) && in_cluster2.contains(&p.secondary_host));
    let mut r = request(1, GIB);
    r.zone_uuid = Some(ZONE2.into());
    let p = e.place(&r).unwrap();
    assert!(in_cluster2.contains(&p.primary_host) && in_cluster2.contains(&p.secondary_host));
    assert_eq!(p.primary_storage, STORAGE2);
    r.zone_uuid = Some("ffffffffffffffffffffffffffffffff".into());
    assert_eq!(no_host(e.place(&r)).1, Rule::Location);
}

#[test]
fn secondary_stays_in_the_primarys_zone() {
    // One host per zone: a pair would have to cross zones, which Location forbids.
    let mut e = engine_with(&[host(1, CLUSTER), host(11, CLUSTER2)]);
    e.upsert_storage(&StorageSpec::shared(STORAGE2, ZONE2, &[CLUSTER2], 1024 * GIB as i64)).unwrap();
    e.attach_l2(CLUSTER2, L2);
    let (phase, rule, counts) = no_host(e.place(&request(1, GIB)));
    assert_eq!((phase, rule), (Phase::Secondary, Rule::HostAntiAffinity));
    assert_eq!(counts, vec![(Rule::Location, 1), (Rule::HostAntiAffinity, 1)]);
}

#[test]
fn first_primary_without_secondary_moves_on_to_the_next_zone() {
    // ZONE has one (best-scored) host, ZONE2 has two: the pair must go to ZONE2.
    let mut hs = vec![host(1, CLUSTER), host(11, CLUSTER2), host(12, CLUSTER2)];
    hs[1].vm_count = 5;
    hs[2].vm_count = 5;
    let mut e = engine_with(&hs);
    e.upsert_storage(&StorageSpec::shared(STORAGE2, ZONE2, &[CLUSTER2], 1024 * GIB as i64)).unwrap();
    e.attach_l2(CLUSTER2, L2);
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!([p.primary_host, p.secondary_host], [host_uuid(11), host_uuid(12)]);
}

#[test]
fn failure_domain_is_soft() {
    // Hosts 1, 2 share rack A; host 3 is in rack B with more VMs: the secondary still goes to rack B.
    let mut hs = hosts(3);
    hs[0].failure_domain = "A".into();
    hs[1].failure_domain = "A".into();
    hs[2].failure_domain = "B".into();
    hs[2].vm_count = 10;
    let mut e = engine_with(&hs);
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.primary_host.as_str(), p.secondary_host.as_str()), (host_uuid(1).as_str(), host_uuid(3).as_str()));
    // Without room in rack B, the same rack is accepted.
    hs[2].cpu_used = 80;
    let mut e = engine_with(&hs);
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.primary_host, p.secondary_host), (host_uuid(1), host_uuid(2)));
}

#[test]
fn storage_anti_affinity_is_soft() {
    // STORAGE (bigger) is attached to the whole cluster, STORAGE2 only reaches host 3 (via CLUSTER2).
    let mut hs = hosts(2);
    hs.push(host(3, CLUSTER2));
    hs[2].zone_uuid = ZONE.into();
    for h in &mut hs {
        h.failure_domain = String::new();
    }
    hs[2].vm_count = 3;
    let mut e = engine_with(&hs);
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER, CLUSTER2], 1024 * GIB as i64)).unwrap();
    e.upsert_storage(&StorageSpec::shared(STORAGE2, ZONE, &[CLUSTER2], 100 * GIB as i64)).unwrap();
    e.attach_l2(CLUSTER2, L2);
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!(p.primary_storage, STORAGE);
    assert_eq!((p.secondary_host.as_str(), p.secondary_storage.as_str()), (host_uuid(3).as_str(), STORAGE2));
    // STORAGE2 disabled: the secondary shares STORAGE, on the least loaded host.
    let mut s2 = StorageSpec::shared(STORAGE2, ZONE, &[CLUSTER2], 100 * GIB as i64);
    s2.state = "Disabled".into();
    e.upsert_storage(&s2).unwrap();
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.secondary_host, p.secondary_storage), (host_uuid(2), STORAGE.to_string()));
}

#[test]
fn storage_reserved_capacity_and_secondary_copies() {
    // 11 GiB: the pair needs 2 (primary root) + 6 (secondary root and two caches) + 1 GiB reserve = 9 GiB.
    let mut e = engine_with(&hosts(2));
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER], 9 * GIB as i64)).unwrap();
    let mut r = request(1, GIB);
    r.root_bytes = 2 * GIB;
    e.place_and_reserve("a", &r).unwrap(); // exact fit
    assert_eq!(e.storage_available(STORAGE, None), Some(GIB as i64));
    assert!(e.place(&request(1, GIB)).is_ok()); // volumes of 0 bytes: the 1 GiB reserve is an exact fit
    let mut one_byte = request(1, GIB);
    one_byte.root_bytes = 1;
    let (phase, rule, _) = no_host(e.place(&one_byte));
    assert_eq!((phase, rule), (Phase::Primary, Rule::PrimaryStorage));
    assert!(e.release("a"));
    r.root_bytes = 2 * GIB + 1;
    let (phase, rule, _) = no_host(e.place(&r));
    assert_eq!((phase, rule), (Phase::Secondary, Rule::PrimaryStorage));
}

#[test]
fn storage_pins_for_root_and_data_volumes() {
    let mut e = engine_with(&hosts(2));
    e.upsert_storage(&StorageSpec::shared(STORAGE2, ZONE, &[CLUSTER], 50 * GIB as i64)).unwrap();
    let mut r = request(1, GIB);
    r.root_bytes = 10 * GIB;
    r.data_bytes = 5 * GIB;
    r.root_storage_uuid = Some(STORAGE2.into());
    let p = e.place_and_reserve("a", &r).unwrap();
    assert_eq!((p.primary_storage.as_str(), p.primary_data_storage.as_str()), (STORAGE2, STORAGE2));
    assert_eq!(p.secondary_storage, STORAGE); // the other storage, soft rule
    assert_eq!(e.storage_available(STORAGE2, None), Some(35 * GIB as i64));
    let mut r2 = request(1, GIB);
    r2.root_bytes = 10 * GIB;
    r2.data_bytes = 5 * GIB;
    r2.data_storage_uuid = Some(STORAGE2.into());
    let p = e.place_and_reserve("b", &r2).unwrap();
    assert_eq!((p.primary_storage.as_str(), p.primary_data_storage.as_str()), (STORAGE, STORAGE2));
    assert_eq!(e.storage_available(STORAGE2, None), Some(30 * GIB as i64));
    r2.root_storage_uuid = Some("ffffffffffffffffffffffffffffffff".into());
    assert_eq!(no_host(e.place(&r2)).1, Rule::PrimaryStorage);
}

#[test]
fn local_storage_is_per_host() {
    let mut e = engine_with(&hosts(3));
    e.remove_storage(STORAGE).unwrap();
    let mut local = StorageSpec::shared(STORAGE2, ZONE, &[CLUSTER], 0);
    local.kind = StorageKind::Local;
    local.host_available = vec![(host_uuid(1), 100 * GIB as i64), (host_uuid(2), 5 * GIB as i64)];
    e.upsert_storage(&local).unwrap();
    let mut r = request(1, GIB);
    r.root_bytes = 10 * GIB;
    let (phase, rule, counts) = no_host(e.place(&r));
    // host 1 holds the primary; hosts 2 (too small) and 3 (no disk) cannot hold a secondary.
    assert_eq!((phase, rule), (Phase::Secondary, Rule::PrimaryStorage));
    assert_eq!(counts, vec![(Rule::HostAntiAffinity, 1), (Rule::PrimaryStorage, 2)]);
    local.host_available.push((host_uuid(3), 100 * GIB as i64));
    e.upsert_storage(&local).unwrap();
    let p = e.place_and_reserve("a", &r).unwrap();
    assert_eq!(p.secondary_storage, STORAGE2); // the same local storage, a different host's disk
    assert_eq!(e.storage_available(STORAGE2, Some(&p.primary_host)), Some(90 * GIB as i64));
    assert_eq!(e.storage_available(STORAGE2, Some(&p.secondary_host)), Some(70 * GIB as i64));
    assert!(e.release("a"));
    assert_eq!(e.storage_available(STORAGE2, Some(&host_uuid(1))), Some(100 * GIB as i64));
}

#[test]
fn contended_shared_storage_does_not_rule_out_the_zone() {
    // Host 1 (best) and host 3 only reach STORAGE, which can hold one secondary but not a primary and a
    // secondary. Host 2 reaches only a small STORAGE2. Host 1's secondary search fails on contention alone,
    // so host 2 is tried next and takes host 1 (fewest VMs) as its secondary.
    let mut hs = vec![host(1, CLUSTER), host(2, CLUSTER2), host(3, CLUSTER)];
    hs[1].zone_uuid = ZONE.into();
    hs[1].vm_count = 1;
    hs[2].vm_count = 2;
    let mut e = engine_with(&hs);
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER], 32 * GIB as i64)).unwrap();
    e.upsert_storage(&StorageSpec::shared(STORAGE2, ZONE, &[CLUSTER2], 12 * GIB as i64)).unwrap();
    e.attach_l2(CLUSTER2, L2);
    let mut r = request(1, GIB);
    r.root_bytes = 10 * GIB;
    let p = e.place(&r).unwrap();
    assert_eq!((p.primary_host, p.secondary_host), (host_uuid(2), host_uuid(1)));
}

#[test]
fn strategies_order_hosts() {
    let mut hs = hosts(4);
    // host 1: most VMs, least CPU; host 2: most CPU used; host 3: most memory used; host 4: fewest VMs.
    hs[0].vm_count = 9;
    hs[1].vm_count = 1;
    hs[1].cpu_used = 70;
    hs[2].vm_count = 2;
    hs[2].memory_used = 12 * GIB;
    hs[3].cpu_used = 40;
    hs[3].memory_used = 8 * GIB;
    let mut e = engine_with(&hs);
    let primary = |e: &mut Engine, s: Strategy| {
        let mut r = request(1, GIB);
        r.strategy = s;
        e.place(&r).unwrap().primary_host
    };
    assert_eq!(primary(&mut e, Strategy::LeastVmPreferred), host_uuid(4));
    assert_eq!(primary(&mut e, Strategy::MinimumCpuUsage), host_uuid(1));
    assert_eq!(primary(&mut e, Strategy::MinimumMemoryUsage), host_uuid(1));
    assert_eq!(primary(&mut e, Strategy::Default), host_uuid(1));
    hs[0].memory_used = 14 * GIB;
    e.upsert_host(&hs[0]).unwrap();
    assert_eq!(primary(&mut e, Strategy::MinimumMemoryUsage), host_uuid(2));
    assert_eq!(primary(&mut e, Strategy::Default), host_uuid(2));
    // The index follows reservations: VMs 9/1/2/0 become 9/2/2/1 after pair a (4 + 2) and 9/3/2/2 after
    // pair b (4 + 2, which wins the tie with 3 by uuid); hosts 3 and 4 then tie and 3 wins.
    let mut r = request(1, GIB);
    r.strategy = Strategy::LeastVmPreferred;
    let a = e.place_and_reserve("a", &r).unwrap();
    assert_eq!((a.primary_host, a.secondary_host), (host_uuid(4), host_uuid(2)));
    let b = e.place_and_reserve("b", &r).unwrap();
    assert_eq!((b.primary_host, b.secondary_host), (host_uuid(4), host_uuid(2)));
    assert_eq!(primary(&mut e, Strategy::LeastVmPreferred), host_uuid(3));
}

#[test]
fn max_instance_per_host() {
    let mut hs = hosts(3);
    hs[0].vm_count = 3;
    let mut e = engine_with(&hs);
    let mut r = request(1, GIB);
    r.strategy = Strategy::MaxInstancePerHost;
    r.max_instance_per_host = 3;
    let p = e.place_and_reserve("a", &r).unwrap(); // hosts 2 and 3 go to 1 VM each
    assert!(![&p.primary_host, &p.secondary_host].contains(&&host_uuid(1)));
    e.place_and_reserve("b", &r).unwrap();
    e.place_and_reserve("c", &r).unwrap();
    let (_, rule, counts) = no_host(e.place(&r));
    assert_eq!((rule, counts), (Rule::MaxInstancePerHost, vec![(Rule::MaxInstancePerHost, 3)]));
}

#[test]
fn ties_break_by_uuid() {
    let hs: Vec<HostSpec> = [7, 3, 9, 5]
        .iter()
        .map(|&n| {
            let mut h = host(n, CLUSTER);
            h.failure_domain = String::new();
            h
        })
        .collect();
    let mut e = engine_with(&hs);
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.primary_host, p.secondary_host), (host_uuid(3), host_uuid(5)));
}

#[test]
fn release_is_idempotent_and_exact() {
    let mut e = engine_with(&hosts(2));
    let before: Vec<_> = (1..=2).map(|i| e.host_usage(&host_uuid(i)).unwrap()).collect();
    let mut r = request(3, 3 * GIB);
    r.root_bytes = 7 * GIB;
    e.place_and_reserve("a", &r).unwrap();
    assert!(e.release("a"));
    assert!(!e.release("a"));
    assert!(!e.release("never"));
    let after: Vec<_> = (1..=2).map(|i| e.host_usage(&host_uuid(i)).unwrap()).collect();
    assert_eq!(before, after);
    assert_eq!(e.storage_available(STORAGE, None), Some(1024 * GIB as i64));
    assert_eq!(e.reservation_count(), 0);
}

#[test]
fn reservations_survive_upserts_and_skip_removed_hosts() {
    let mut e = engine_with(&hosts(3));
    let p = e.place_and_reserve("a", &request(2, GIB)).unwrap();
    // Re-upserting base facts keeps what the reservation holds on top.
    let mut h = host(u32::from_str_radix(&p.primary_host, 16).unwrap(), CLUSTER);
    h.cpu_used = 10;
    e.upsert_host(&h).unwrap();
    assert_eq!(e.host_usage(&p.primary_host).unwrap().cpu_used, 12);
    // A host removed and added again starts fresh; the old reservation must not take from it.
    e.remove_host(&p.secondary_host).unwrap();
    let n = u32::from_str_radix(&p.secondary_host, 16).unwrap();
    e.upsert_host(&host(n, CLUSTER)).unwrap();
    assert!(e.release("a"));
    assert_eq!(e.host_usage(&p.primary_host).unwrap().cpu_used, 10);
    assert_eq!(e.host_usage(&p.secondary_host).unwrap().cpu_used, 0);
    assert!(matches!(e.remove_host(&p.secondary_host), Ok(())));
    assert!(matches!(e.remove_host(&p.secondary_host), Err(PlacementError::UnknownResource { .. })));
}

#[test]
fn reserve_checks_the_placement_and_the_key() {
    let mut e = engine_with(&hosts(2));
    let r = request(40, GIB);
    let p = e.place(&r).unwrap();
    e.reserve("a", &r, &p).unwrap();
    assert!(matches!(e.reserve("a", &r, &p), Err(PlacementError::ReservationConflict(_))));
    assert!(matches!(e.place_and_reserve("a", &r), Err(PlacementError::ReservationConflict(_))));
    // Both hosts now have 40 of 80 vCPUs; another 41 no longer fits.
    assert!(matches!(e.reserve("b", &request(41, GIB), &p), Err(PlacementError::StalePlacement(_))));
    let same_host = Placement { secondary_host: p.primary_host.clone(), ..p.clone() };
    assert!(matches!(e.reserve("c", &request(1, GIB), &same_host), Err(PlacementError::StalePlacement(_))));
    assert_eq!(e.reservation_count(), 1);
}

#[test]
fn place_many_is_greedy_in_order() {
    let mut e = engine_with(&hosts(2));
    let keys: Vec<String> = (0..3).map(|i| i.to_string()).collect();
    let reqs = vec![request(40, GIB), request(40, GIB), request(1, GIB)];
    let results = e.place_many(&keys, &reqs);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(PlacementError::NoHostAvailable { .. })));
    assert_eq!(e.reservation_count(), 2);
}

#[test]
fn invalid_requests_and_uuids() {
    let mut e = engine_with(&hosts(2));
    assert!(matches!(e.place(&request(0, GIB)), Err(PlacementError::InvalidRequest(_))));
    assert!(matches!(e.place(&request(1, 0)), Err(PlacementError::InvalidRequest(_))));
    let bad = HostSpec::new("not-a-uuid", ZONE, CLUSTER, 1, GIB);
    assert!(matches!(e.upsert_host(&bad), Err(PlacementError::InvalidRequest(_))));
    assert_eq!(e.host_count(), 2);
}

#[test]
fn empty_inventory_reports_location() {
    let mut e = Engine::new(Config::default());
    let (phase, rule, counts) = no_host(e.place(&request(1, GIB)));
    assert_eq!((phase, rule, counts), (Phase::Primary, Rule::Location, vec![]));
}

#[test]
fn storage_reach_follows_cluster_attachment_not_the_declared_zone() {
    // A local storage whose zone label is another zone still serves hosts of clusters it is attached to: the
    // secondary must prefer it over sharing the primary's storage, even though the label says ZONE2.
    let mut hs = hosts(2);
    hs.push(host(3, CLUSTER2));
    hs[2].zone_uuid = ZONE.into();
    for h in &mut hs {
        h.failure_domain = String::new();
    }
    hs[2].vm_count = 5;
    let mut e = engine_with(&hs);
    e.upsert_storage(&StorageSpec::shared(STORAGE, ZONE, &[CLUSTER, CLUSTER2], 1024 * GIB as i64)).unwrap();
    e.attach_l2(CLUSTER2, L2);
    let mut local = StorageSpec::shared(STORAGE2, ZONE2, &[CLUSTER2], 0);
    local.kind = StorageKind::Local;
    local.host_available = vec![(host_uuid(3), 10 * GIB as i64)];
    e.upsert_storage(&local).unwrap();
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.secondary_host.as_str(), p.secondary_storage.as_str()), (host_uuid(3).as_str(), STORAGE2));
    // Once host 3 leaves, nothing reaches the local storage: the search falls back to sharing STORAGE.
    e.remove_host(&host_uuid(3)).unwrap();
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.secondary_host, p.secondary_storage), (host_uuid(2), STORAGE.to_string()));
}

#[test]
fn long_walks_fall_back_to_one_scan() {
    // The 4,200 least-loaded hosts are full: the walk gives up after its budget (4,096), scans once, and still
    // finds the best pair among the rest; with no room anywhere the counts cover every host.
    let mut hs = hosts(4300);
    for h in &mut hs[..4200] {
        h.memory_used = 16 * GIB;
    }
    for h in &mut hs[4200..] {
        h.vm_count = 1;
    }
    let mut e = engine_with(&hs);
    let p = e.place(&request(1, GIB)).unwrap();
    assert_eq!((p.primary_host, p.secondary_host), (host_uuid(4201), host_uuid(4202)));
    for h in &mut hs[4200..] {
        h.memory_used = 16 * GIB;
        e.upsert_host(h).unwrap();
    }
    let (phase, rule, counts) = no_host(e.place(&request(1, GIB)));
    assert_eq!((phase, rule, counts), (Phase::Primary, Rule::Memory, vec![(Rule::Memory, 4300)]));
}
