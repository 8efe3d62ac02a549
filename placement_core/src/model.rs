//! Plain data of the placement model: configuration, specs, requests, answers, rules and strategies.
//! The semantics are defined in `docs/placement-semantics.md`; this crate is its reference implementation.

/// ZStack global config that placement depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub cpu_overprovisioning_ratio: f64,
    pub memory_overprovisioning_ratio: f64,
    pub reserved_memory: u64,
    pub storage_overprovisioning_ratio: f64,
    pub storage_reserved_capacity: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cpu_overprovisioning_ratio: 10.0,
            memory_overprovisioning_ratio: 1.0,
            reserved_memory: 1 << 30,
            storage_overprovisioning_ratio: 1.0,
            storage_reserved_capacity: 1 << 30,
        }
    }
}

/// A host's facts. Usage fields exclude what the engine's own reservations hold.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSpec {
    pub uuid: String,
    pub zone_uuid: String,
    pub cluster_uuid: String,
    pub cpu_num: u32,
    pub memory_total: u64,
    pub state: String,
    pub status: String,
    pub hypervisor: String,
    pub cpu_used: u32,
    pub memory_used: u64,
    pub vm_count: u32,
    pub ft_vm_count: u32,
    pub ft_vcpu_count: u32,
    pub max_ft_vms: u32,
    pub max_ft_vcpus: u32,
    pub failure_domain: String,
    pub ft_address: bool,
}

impl HostSpec {
    /// An enabled, connected KVM host with an FT address and nothing allocated.
    pub fn new(uuid: &str, zone: &str, cluster: &str, cpu_num: u32, memory_total: u64) -> Self {
        HostSpec {
            uuid: uuid.into(),
            zone_uuid: zone.into(),
            cluster_uuid: cluster.into(),
            cpu_num,
            memory_total,
            state: "Enabled".into(),
            status: "Connected".into(),
            hypervisor: "KVM".into(),
            cpu_used: 0,
            memory_used: 0,
            vm_count: 0,
            ft_vm_count: 0,
            ft_vcpu_count: 0,
            max_ft_vms: 0,
            max_ft_vcpus: 0,
            failure_domain: String::new(),
            ft_address: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageKind {
    Shared,
    Local,
}

impl StorageKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Shared" => Some(StorageKind::Shared),
            "Local" => Some(StorageKind::Local),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::Shared => "Shared",
            StorageKind::Local => "Local",
        }
    }
}

/// A primary storage. `available` is used for shared storage, `host_available` (host uuid, bytes) for local disks.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageSpec {
    pub uuid: String,
    pub zone_uuid: String,
    pub cluster_uuids: Vec<String>,
    pub available: i64,
    pub kind: StorageKind,
    pub state: String,
    pub status: String,
    pub host_available: Vec<(String, i64)>,
}

impl StorageSpec {
    pub fn shared(uuid: &str, zone: &str, clusters: &[&str], available: i64) -> Self {
        StorageSpec {
            uuid: uuid.into(),
            zone_uuid: zone.into(),
            cluster_uuids: clusters.iter().map(|c| c.to_string()).collect(),
            available,
            kind: StorageKind::Shared,
            state: "Enabled".into(),
            status: "Connected".into(),
            host_available: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    Default,
    LeastVmPreferred,
    MinimumCpuUsage,
    MinimumMemoryUsage,
    MaxInstancePerHost,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::Default,
        Strategy::LeastVmPreferred,
        Strategy::MinimumCpuUsage,
        Strategy::MinimumMemoryUsage,
        Strategy::MaxInstancePerHost,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Strategy::ALL.into_iter().find(|st| st.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Default => "DefaultHostAllocatorStrategy",
            Strategy::LeastVmPreferred => "LeastVmPreferredHostAllocatorStrategy",
            Strategy::MinimumCpuUsage => "MinimumCPUUsageHostAllocatorStrategy",
            Strategy::MinimumMemoryUsage => "MinimumMemoryUsageHostAllocatorStrategy",
            Strategy::MaxInstancePerHost => "MaxInstancePerHostHostAllocatorStrategy",
        }
    }

    /// The host ordering a strategy walks; strategies sharing an ordering share one index.
    pub fn score(self) -> Score {
        match self {
            Strategy::Default => Score::FreeMemory,
            Strategy::LeastVmPreferred | Strategy::MaxInstancePerHost => Score::VmCount,
            Strategy::MinimumCpuUsage => Score::CpuUsage,
            Strategy::MinimumMemoryUsage => Score::MemoryUsage,
        }
    }
}

/// Host orderings (lower score first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    VmCount = 0,
    CpuUsage = 1,
    MemoryUsage = 2,
    FreeMemory = 3,
}

impl Score {
    pub const ALL: [Score; 4] = [Score::VmCount, Score::CpuUsage, Score::MemoryUsage, Score::FreeMemory];
}

pub const SCORE_KINDS: usize = 4;

/// The filter pipeline, in the order hosts are tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    HostState,
    HostStatus,
    Hypervisor,
    Location,
    HostAntiAffinity,
    L2Attachment,
    FtNetwork,
    FtLimits,
    MaxInstancePerHost,
    Cpu,
    Memory,
    PrimaryStorage,
}

impl Rule {
    pub const ALL: [Rule; 12] = [
        Rule::HostState,
        Rule::HostStatus,
        Rule::Hypervisor,
        Rule::Location,
        Rule::HostAntiAffinity,
        Rule::L2Attachment,
        Rule::FtNetwork,
        Rule::FtLimits,
        Rule::MaxInstancePerHost,
        Rule::Cpu,
        Rule::Memory,
        Rule::PrimaryStorage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::HostState => "HostState",
            Rule::HostStatus => "HostStatus",
            Rule::Hypervisor => "Hypervisor",
            Rule::Location => "Location",
            Rule::HostAntiAffinity => "HostAntiAffinity",
            Rule::L2Attachment => "L2Attachment",
            Rule::FtNetwork => "FtNetwork",
            Rule::FtLimits => "FtLimits",
            Rule::MaxInstancePerHost => "MaxInstancePerHost",
            Rule::Cpu => "Cpu",
            Rule::Memory => "Memory",
            Rule::PrimaryStorage => "PrimaryStorage",
        }
    }
}

/// The secondary keeps its own copy of every volume plus COLO's active and hidden cache volumes.
pub const SECONDARY_STORAGE_FACTOR: u64 = 3;

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub vcpus: u32,
    pub memory: u64,
    pub l3_uuids: Vec<String>,
    pub root_bytes: u64,
    pub data_bytes: u64,
    pub zone_uuid: Option<String>,
    pub cluster_uuid: Option<String>,
    pub host_uuid: Option<String>,
    pub root_storage_uuid: Option<String>,
    pub data_storage_uuid: Option<String>,
    pub strategy: Strategy,
    pub max_instance_per_host: u32,
}

impl Request {
    pub fn new(vcpus: u32, memory: u64) -> Self {
        Request {
            vcpus,
            memory,
            l3_uuids: Vec::new(),
            root_bytes: 0,
            data_bytes: 0,
            zone_uuid: None,
            cluster_uuid: None,
            host_uuid: None,
            root_storage_uuid: None,
            data_storage_uuid: None,
            strategy: Strategy::LeastVmPreferred,
            max_instance_per_host: 0,
        }
    }

    pub fn secondary_bytes(&self) -> u64 {
        SECONDARY_STORAGE_FACTOR * (self.root_bytes + self.data_bytes)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub primary_host: String,
    pub primary_storage: String,
    pub primary_data_storage: String,
    pub secondary_host: String,
    pub secondary_storage: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Primary,
    Secondary,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Primary => "primary",
            Phase::Secondary => "secondary",
        }
    }
}

/// Hosts removed per rule; a host counts against the first rule that rejects it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts(pub [u64; 12]);

impl RuleCounts {
    pub fn add(&mut self, rule: Rule) {
        self.0[rule as usize] += 1;
    }
    pub fn get(&self, rule: Rule) -> u64 {
        self.0[rule as usize]
    }
    /// The rule that emptied the candidate set: the last one in pipeline order that removed any host.
    pub fn emptied_by(&self) -> Rule {
        Rule::ALL.into_iter().rev().find(|r| self.get(*r) > 0).unwrap_or(Rule::Location)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PlacementError {
    InvalidRequest(String),
    UnknownResource { kind: &'static str, uuid: String },
    NoHostAvailable { phase: Phase, removed: RuleCounts, considered: u64 },
    ReservationConflict(String),
    StalePlacement(String),
}

impl std::fmt::Display for PlacementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlacementError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            PlacementError::UnknownResource { kind, uuid } => write!(f, "{kind}[uuid:{uuid}] is not known"),
            PlacementError::NoHostAvailable { phase, removed, considered } => write!(
                f,
                "no host for the {} VM: rule {} removed the last candidates ({considered} hosts considered)",
                phase.name(),
                removed.emptied_by().name()
            ),
            PlacementError::ReservationConflict(k) => write!(f, "reservation {k:?} already exists"),
            PlacementError::StalePlacement(m) => write!(f, "placement no longer fits: {m}"),
        }
    }
}

impl std::error::Error for PlacementError {}

/// The 128-bit number ties break on: the UUID's hex digits (dashes ignored), so ties go by UUID string order.
pub fn uuid_order_key(uuid: &str) -> Option<u128> {
    let mut digits = 0usize;
    let mut value: u128 = 0;
    for b in uuid.bytes() {
        if b == b'-' {
            continue;
        }
        let d = (b as char).to_digit(16)? as u128;
        value = (value << 4) | d;
        digits += 1;
        if digits > 32 {
            return None;
        }
    }
    (digits == 32).then_some(value)
}
