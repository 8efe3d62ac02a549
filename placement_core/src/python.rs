//! Thin bindings: Python objects are copied into plain Rust structs, then the engine runs with the
//! interpreter released. Errors are the Python classes of `ftvm.placement.errors`, carrying their data.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use crate::engine::Engine as CoreEngine;
use crate::model::{Config, HostSpec, Placement, PlacementError, Request, Rule, StorageKind, StorageSpec, Strategy};

mod errors {
    pyo3::import_exception!(ftvm.placement.errors, InvalidRequest);
    pyo3::import_exception!(ftvm.placement.errors, UnknownResource);
    pyo3::import_exception!(ftvm.placement.errors, NoHostAvailable);
    pyo3::import_exception!(ftvm.placement.errors, ReservationConflict);
    pyo3::import_exception!(ftvm.placement.errors, StalePlacement);
}

static PLACEMENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static HOST_SPEC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STORAGE_SPEC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVENTORY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIG: PyOnceLock<Py<PyType>> = PyOnceLock::new();
const MODEL: &str = "ftvm.placement.model";

fn to_py_err(py: Python<'_>, err: PlacementError) -> PyErr {
    match err {
        PlacementError::InvalidRequest(msg) => errors::InvalidRequest::new_err(msg),
        PlacementError::UnknownResource { kind, uuid } => errors::UnknownResource::new_err((kind, uuid)),
        PlacementError::NoHostAvailable { phase, removed, considered } => {
            let counts = PyDict::new(py);
            for rule in Rule::ALL {
                if let Err(e) = counts.set_item(rule.name(), removed.get(rule)) {
                    return e;
                }
            }
            errors::NoHostAvailable::new_err((phase.name(), removed.emptied_by().name(), counts.unbind(), considered))
        }
        PlacementError::ReservationConflict(key) => errors::ReservationConflict::new_err((key,)),
        PlacementError::StalePlacement(msg) => errors::StalePlacement::new_err(msg),
    }
}

fn invalid(msg: String) -> PyErr {
    errors::InvalidRequest::new_err(msg)
}

fn non_negative_u32(name: &str, v: i64) -> PyResult<u32> {
    u32::try_from(v).map_err(|_| invalid(format!("{name} must be between 0 and {}, got {v}", u32::MAX)))
}

fn non_negative_u64(name: &str, v: i64) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| invalid(format!("{name} must be >= 0, got {v}")))
}

#[derive(FromPyObject)]
struct PyConfig {
    cpu_overprovisioning_ratio: f64,
    memory_overprovisioning_ratio: f64,
    reserved_memory: i64,
    storage_overprovisioning_ratio: f64,
    storage_reserved_capacity: i64,
}

impl PyConfig {
    fn into_core(self) -> PyResult<Config> {
        for (name, ratio) in [
            ("cpu_overprovisioning_ratio", self.cpu_overprovisioning_ratio),
            ("memory_overprovisioning_ratio", self.memory_overprovisioning_ratio),
            ("storage_overprovisioning_ratio", self.storage_overprovisioning_ratio),
        ] {
            if !(ratio.is_finite() && ratio > 0.0) {
                return Err(invalid(format!("{name} must be a positive number, got {ratio}")));
            }
        }
        Ok(Config {
            cpu_overprovisioning_ratio: self.cpu_overprovisioning_ratio,
            memory_overprovisioning_ratio: self.memory_overprovisioning_ratio,
            reserved_memory: non_negative_u64("reserved_memory", self.reserved_memory)?,
            storage_overprovisioning_ratio: self.storage_overprovisioning_ratio,
            storage_reserved_capacity: non_negative_u64("storage_reserved_capacity", self.storage_reserved_capacity)?,
        })
    }
}

#[derive(FromPyObject)]
struct PyHostSpec {
    uuid: String,
    zone_uuid: String,
    cluster_uuid: String,
    cpu_num: i64,
    memory_total: i64,
    state: String,
    status: String,
    hypervisor: String,
    cpu_used: i64,
    memory_used: i64,
    vm_count: i64,
    ft_vm_count: i64,
    ft_vcpu_count: i64,
    max_ft_vms: i64,
    max_ft_vcpus: i64,
    failure_domain: String,
    ft_address: bool,
}

impl PyHostSpec {
    fn into_core(self) -> PyResult<HostSpec> {
        Ok(HostSpec {
            cpu_num: non_negative_u32("cpu_num", self.cpu_num)?,
            memory_total: non_negative_u64("memory_total", self.memory_total)?,
            cpu_used: non_negative_u32("cpu_used", self.cpu_used)?,
            memory_used: non_negative_u64("memory_used", self.memory_used)?,
            vm_count: non_negative_u32("vm_count", self.vm_count)?,
            ft_vm_count: non_negative_u32("ft_vm_count", self.ft_vm_count)?,
            ft_vcpu_count: non_negative_u32("ft_vcpu_count", self.ft_vcpu_count)?,
            max_ft_vms: non_negative_u32("max_ft_vms", self.max_ft_vms)?,
            max_ft_vcpus: non_negative_u32("max_ft_vcpus", self.max_ft_vcpus)?,
            uuid: self.uuid,
            zone_uuid: self.zone_uuid,
            cluster_uuid: self.cluster_uuid,
            state: self.state,
            status: self.status,
            hypervisor: self.hypervisor,
            failure_domain: self.failure_domain,
            ft_address: self.ft_address,
        })
    }
}

#[derive(FromPyObject)]
struct PyStorageSpec {
    uuid: String,
    zone_uuid: String,
    cluster_uuids: Vec<String>,
    available: i64,
    kind: String,
    state: String,
    status: String,
    host_available: std::collections::HashMap<String, i64>,
}

impl PyStorageSpec {
    fn into_core(self) -> PyResult<StorageSpec> {
        let kind = StorageKind::parse(&self.kind)
            .ok_or_else(|| invalid(format!("storage kind must be 'Shared' or 'Local', got {:?}", self.kind)))?;
        let mut host_available: Vec<(String, i64)> = self.host_available.into_iter().collect();
        host_available.sort();
        Ok(StorageSpec {
            uuid: self.uuid,
            zone_uuid: self.zone_uuid,
            cluster_uuids: self.cluster_uuids,
            available: self.available,
            kind,
            state: self.state,
            status: self.status,
            host_available,
        })
    }
}

#[derive(FromPyObject)]
struct PyRequest {
    vcpus: i64,
    memory: i64,
    l3_uuids: Vec<String>,
    root_bytes: i64,
    data_bytes: i64,
    zone_uuid: Option<String>,
    cluster_uuid: Option<String>,
    host_uuid: Option<String>,
    root_storage_uuid: Option<String>,
    data_storage_uuid: Option<String>,
    strategy: String,
    max_instance_per_host: i64,
}

impl PyRequest {
    fn into_core(self) -> PyResult<Request> {
        let strategy = Strategy::parse(&self.strategy)
            .ok_or_else(|| invalid(format!("unknown allocator strategy {:?}", self.strategy)))?;
        let positive = |name: &str, v: i64| {
            if v > 0 {
                Ok(v)
            } else {
                Err(invalid(format!("{name} must be > 0, got {v}")))
            }
        };
        Ok(Request {
            vcpus: non_negative_u32("vcpus", positive("vcpus", self.vcpus)?)?,
            memory: non_negative_u64("memory", positive("memory", self.memory)?)?,
            l3_uuids: self.l3_uuids,
            root_bytes: non_negative_u64("root_bytes", self.root_bytes)?,
            data_bytes: non_negative_u64("data_bytes", self.data_bytes)?,
            zone_uuid: self.zone_uuid,
            cluster_uuid: self.cluster_uuid,
            host_uuid: self.host_uuid,
            root_storage_uuid: self.root_storage_uuid,
            data_storage_uuid: self.data_storage_uuid,
            strategy,
            max_instance_per_host: non_negative_u32("max_instance_per_host", self.max_instance_per_host)?,
        })
    }
}

#[derive(FromPyObject)]
struct PyPlacement {
    primary_host: String,
    primary_storage: String,
    primary_data_storage: String,
    secondary_host: String,
    secondary_storage: String,
}

fn placement_to_py<'py>(py: Python<'py>, p: Placement) -> PyResult<Bound<'py, PyAny>> {
    PLACEMENT.import(py, MODEL, "Placement")?.call1((
        p.primary_host,
        p.primary_storage,
        p.primary_data_storage,
        p.secondary_host,
        p.secondary_storage,
    ))
}

fn config_to_py<'py>(py: Python<'py>, c: &Config) -> PyResult<Bound<'py, PyAny>> {
    CONFIG.import(py, MODEL, "Config")?.call1((
        c.cpu_overprovisioning_ratio,
        c.memory_overprovisioning_ratio,
        c.reserved_memory,
        c.storage_overprovisioning_ratio,
        c.storage_reserved_capacity,
    ))
}

/// The Rust placement engine. Every method holds the engine's lock for its whole work, so a
/// place-and-reserve is one atomic step; the interpreter is released meanwhile.
#[pyclass(frozen, module = "ftvm._placement")]
pub struct Engine {
    core: Mutex<CoreEngine>,
}

impl Engine {
    fn run<T: Send>(&self, py: Python<'_>, work: impl FnOnce(&mut CoreEngine) -> T + Send) -> T {
        py.detach(|| work(&mut self.core.lock().unwrap_or_else(|poison| poison.into_inner())))
    }
}

#[pymethods]
impl Engine {
    #[classattr]
    fn name() -> &'static str {
        "rust"
    }

    #[new]
    #[pyo3(signature = (config=None))]
    fn new(py: Python<'_>, config: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let config = match config {
            Some(c) => c.extract::<PyConfig>()?.into_core()?,
            None => CONFIG.import(py, MODEL, "Config")?.call0()?.extract::<PyConfig>()?.into_core()?,
        };
        Ok(Engine { core: Mutex::new(CoreEngine::new(config)) })
    }

    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.run(py, |e| e.config().clone());
        config_to_py(py, &c)
    }

    fn upsert_host(&self, py: Python<'_>, spec: PyHostSpec) -> PyResult<()> {
        let spec = spec.into_core()?;
        self.run(py, |e| e.upsert_host(&spec)).map_err(|err| to_py_err(py, err))
    }

    fn upsert_hosts(&self, py: Python<'_>, specs: Vec<PyHostSpec>) -> PyResult<()> {
        let specs = specs.into_iter().map(PyHostSpec::into_core).collect::<PyResult<Vec<_>>>()?;
        self.run(py, |e| specs.iter().try_for_each(|s| e.upsert_host(s))).map_err(|err| to_py_err(py, err))
    }

    fn remove_host(&self, py: Python<'_>, uuid: String) -> PyResult<()> {
        self.run(py, |e| e.remove_host(&uuid)).map_err(|err| to_py_err(py, err))
    }

    fn upsert_storage(&self, py: Python<'_>, spec: PyStorageSpec) -> PyResult<()> {
        let spec = spec.into_core()?;
        self.run(py, |e| e.upsert_storage(&spec)).map_err(|err| to_py_err(py, err))
    }

    fn remove_storage(&self, py: Python<'_>, uuid: String) -> PyResult<()> {
        self.run(py, |e| e.remove_storage(&uuid)).map_err(|err| to_py_err(py, err))
    }

    fn set_l3(&self, py: Python<'_>, l3_uuid: String, l2_uuid: String) {
        self.run(py, |e| e.set_l3(&l3_uuid, &l2_uuid))
    }

    fn attach_l2(&self, py: Python<'_>, cluster_uuid: String, l2_uuid: String) {
        self.run(py, |e| e.attach_l2(&cluster_uuid, &l2_uuid))
    }

    fn detach_l2(&self, py: Python<'_>, cluster_uuid: String, l2_uuid: String) {
        self.run(py, |e| e.detach_l2(&cluster_uuid, &l2_uuid))
    }

    fn place<'py>(&self, py: Python<'py>, request: PyRequest) -> PyResult<Bound<'py, PyAny>> {
        let req = request.into_core()?;
        let placement = self.run(py, |e| e.place(&req)).map_err(|err| to_py_err(py, err))?;
        placement_to_py(py, placement)
    }

    fn reserve(&self, py: Python<'_>, key: String, request: PyRequest, placement: PyPlacement) -> PyResult<()> {
        let req = request.into_core()?;
        let p = Placement {
            primary_host: placement.primary_host,
            primary_storage: placement.primary_storage,
            primary_data_storage: placement.primary_data_storage,
            secondary_host: placement.secondary_host,
            secondary_storage: placement.secondary_storage,
        };
        self.run(py, |e| e.reserve(&key, &req, &p)).map_err(|err| to_py_err(py, err))
    }

    fn place_and_reserve<'py>(&self, py: Python<'py>, key: String, request: PyRequest) -> PyResult<Bound<'py, PyAny>> {
        let req = request.into_core()?;
        let placement = self.run(py, |e| e.place_and_reserve(&key, &req)).map_err(|err| to_py_err(py, err))?;
        placement_to_py(py, placement)
    }

    fn release(&self, py: Python<'_>, key: String) -> bool {
        self.run(py, |e| e.release(&key))
    }

    fn place_many<'py>(
        &self,
        py: Python<'py>,
        keys: Vec<String>,
        requests: Vec<PyRequest>,
    ) -> PyResult<Bound<'py, PyList>> {
        if keys.len() != requests.len() {
            return Err(invalid(format!("{} keys for {} requests", keys.len(), requests.len())));
        }
        // A malformed request gets its error in the list, like a request no host can take.
        let reqs: Vec<PyResult<Request>> = requests.into_iter().map(PyRequest::into_core).collect();
        let (mut valid_keys, mut valid_reqs) = (Vec::new(), Vec::new());
        for (key, req) in keys.into_iter().zip(&reqs) {
            if let Ok(req) = req {
                valid_keys.push(key);
                valid_reqs.push(req.clone());
            }
        }
        let placed = self.run(py, |e| e.place_many(&valid_keys, &valid_reqs));
        let mut placed = placed.into_iter();
        let out = PyList::empty(py);
        for req in reqs {
            match req.map(|_| placed.next().expect("one result per valid request")) {
                Ok(Ok(p)) => out.append(placement_to_py(py, p)?)?,
                Ok(Err(err)) => out.append(to_py_err(py, err).into_value(py))?,
                Err(err) => out.append(err.into_value(py))?,
            }
        }
        Ok(out)
    }

    fn host_usage<'py>(&self, py: Python<'py>, uuid: String) -> PyResult<Bound<'py, PyDict>> {
        let usage = self
            .run(py, |e| e.host_usage(&uuid))
            .ok_or_else(|| errors::UnknownResource::new_err(("Host", uuid.clone())))?;
        let d = PyDict::new(py);
        d.set_item("cpu_used", usage.cpu_used)?;
        d.set_item("memory_used", usage.memory_used)?;
        d.set_item("vm_count", usage.vm_count)?;
        d.set_item("ft_vm_count", usage.ft_vm_count)?;
        d.set_item("ft_vcpu_count", usage.ft_vcpu_count)?;
        Ok(d)
    }

    #[pyo3(signature = (uuid, host_uuid=None))]
    fn storage_available(&self, py: Python<'_>, uuid: String, host_uuid: Option<String>) -> PyResult<i64> {
        self.run(py, |e| e.storage_available(&uuid, host_uuid.as_deref()))
            .ok_or_else(|| errors::UnknownResource::new_err(("PrimaryStorage", uuid.clone())))
    }

    fn reservation_count(&self, py: Python<'_>) -> usize {
        self.run(py, |e| e.reservation_count())
    }

    /// A consistent copy of the inventory with effective usage, as `ftvm.placement.model.Inventory`.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (config, hosts, storages, (l3s, clusters)) =
            self.run(py, |e| (e.config().clone(), e.host_specs(), e.storage_specs(), e.network()));
        let host_cls = HOST_SPEC.import(py, MODEL, "HostSpec")?;
        let storage_cls = STORAGE_SPEC.import(py, MODEL, "StorageSpec")?;
        let py_hosts = PyList::empty(py);
        for h in hosts {
            let kw = PyDict::new(py);
            kw.set_item("uuid", h.uuid)?;
            kw.set_item("zone_uuid", h.zone_uuid)?;
            kw.set_item("cluster_uuid", h.cluster_uuid)?;
            kw.set_item("cpu_num", h.cpu_num)?;
            kw.set_item("memory_total", h.memory_total)?;
            kw.set_item("state", h.state)?;
            kw.set_item("status", h.status)?;
            kw.set_item("hypervisor", h.hypervisor)?;
            kw.set_item("cpu_used", h.cpu_used)?;
            kw.set_item("memory_used", h.memory_used)?;
            kw.set_item("vm_count", h.vm_count)?;
            kw.set_item("ft_vm_count", h.ft_vm_count)?;
            kw.set_item("ft_vcpu_count", h.ft_vcpu_count)?;
            kw.set_item("max_ft_vms", h.max_ft_vms)?;
            kw.set_item("max_ft_vcpus", h.max_ft_vcpus)?;
            kw.set_item("failure_domain", h.failure_domain)?;
            kw.set_item("ft_address", h.ft_address)?;
            py_hosts.append(host_cls.call((), Some(&kw))?)?;
        }
        let py_storages = PyList::empty(py);
        for s in storages {
            let host_available = PyDict::new(py);
            for (h, a) in s.host_available {
                host_available.set_item(h, a)?;
            }
            let kw = PyDict::new(py);
            kw.set_item("uuid", s.uuid)?;
            kw.set_item("zone_uuid", s.zone_uuid)?;
            kw.set_item("cluster_uuids", PyTuple::new(py, s.cluster_uuids)?)?;
            kw.set_item("available", s.available)?;
            kw.set_item("kind", s.kind.name())?;
            kw.set_item("state", s.state)?;
            kw.set_item("status", s.status)?;
            kw.set_item("host_available", host_available)?;
            py_storages.append(storage_cls.call((), Some(&kw))?)?;
        }
        let l3_to_l2 = PyDict::new(py);
        for (l3, l2) in l3s {
            l3_to_l2.set_item(l3, l2)?;
        }
        let cluster_l2 = PyDict::new(py);
        for (cluster, l2s) in clusters {
            cluster_l2.set_item(cluster, l2s)?;
        }
        INVENTORY.import(py, MODEL, "Inventory")?.call1((
            config_to_py(py, &config)?,
            py_hosts,
            py_storages,
            l3_to_l2,
            cluster_l2,
        ))
    }

    /// An independent engine with the same inventory and reservations.
    fn copy(&self, py: Python<'_>) -> Engine {
        let core = self.run(py, |e| e.clone());
        Engine { core: Mutex::new(core) }
    }
}

#[pymodule]
fn _placement(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
