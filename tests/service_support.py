"""Shared by the service tests: a real server on a background thread with a small inventory file, a logged-in
gRPC client, and helpers that read the rich ErrorCode off a failed call."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import services_pb2_grpc as pb_grpc
from ftvm.api.errors import error_from_status_details
from ftvm.server import ServerConfig, ServerThread

ADMIN_PASSWORD = "test-admin-password"
G = 1 << 30


def inventory(
    hosts_per_cluster: int = 4,
    clusters: int = 2,
    cpu: int = 8,
    memory_gib: int = 33,
    ip_count: int = 200,
    ft_cidr: str = "10.99.0.0/16",
    racks: int = 2,
    storage_tib: int = 100,
    zones: int = 1,
    extra_hosts: list[dict] | None = None,
) -> dict:
    """An inventory file (docs/inventory-file.md) with predictable capacity. Memory: `memory_gib` total per host
    minus the 1 GiB kvm.reservedMemory."""
    spec: dict[str, Any] = {
        "globalConfigs": {"ft.enable": "true", "ft.fault.tolerance.network.cidr": ft_cidr},
        "images": [
            {
                "name": "centos",
                "url": "http://images/centos.qcow2",
                "size": "10G",
                "format": "qcow2",
                "mediaType": "RootVolumeTemplate",
                "platform": "Linux",
                "guestOsType": "CentOS",
            },
            {
                "name": "installer",
                "url": "http://images/installer.iso",
                "size": "1G",
                "format": "iso",
                "mediaType": "ISO",
            },
        ],
        "instanceOfferings": [
            {"name": "small", "cpuNum": 2, "memorySize": "4G"},
            {"name": "large", "cpuNum": 4, "memorySize": "16G"},
        ],
        "diskOfferings": [{"name": "data-20g", "diskSize": "20G"}],
        "zones": [],
    }
    host_no = 0
    for z in range(zones):
        cluster_names = [f"z{z}-c{c}" for c in range(clusters)]
        zone = {
            "name": f"zone-{z}",
            "clusters": [],
            "primaryStorages": [
                {
                    "name": f"nfs-{z}",
                    "type": "NFS",
                    "url": f"nfs://storage-{z}/ps",
                    "totalCapacity": f"{storage_tib}T",
                    "clusters": cluster_names,
                }
            ],
            "l2Networks": [
                {
                    "name": f"l2-{z}",
                    "physicalInterface": "eth0",
                    "clusters": cluster_names,
                    "l3Networks": [
                        {
                            "name": f"l3-{z}",
                            "ipRanges": [
                                {
                                    "name": "r1",
                                    "startIp": f"172.{16 + z}.0.2",
                                    "endIp": f"172.{16 + z}.0.{1 + ip_count}"
                                    if ip_count < 250
                                    else f"172.{16 + z}.{ip_count // 250}.250",
                                    "netmask": "255.255.0.0",
                                    "gateway": f"172.{16 + z}.0.1",
                                }
                            ],
                        }
                    ],
                }
            ],
        }
        for c, cname in enumerate(cluster_names):
            hosts = []
            for _ in range(hosts_per_cluster):
                host_no += 1
                hosts.append(
                    {
                        "name": f"host-{host_no}",
                        "managementIp": f"192.168.{host_no // 250}.{host_no % 250}",
                        "ftNetworkAddress": f"10.99.{host_no // 250}.{host_no % 250}",
                        "cpuNum": cpu,
                        "memorySize": f"{memory_gib}G",
                        "failureDomain": f"rack-{host_no % racks}",
                    }
                )
            if z == 0 and c == 0 and extra_hosts:
                hosts += extra_hosts
            zone["clusters"].append({"name": cname, "hosts": hosts})
        spec["zones"].append(zone)
    return spec


@dataclass
class Client:
    channel: grpc.Channel
    session: str

    @property
    def metadata(self) -> tuple:
        return (("authorization", f"OAuth {self.session}"),)

    @property
    def vm(self) -> pb_grpc.VmServiceStub:
        return pb_grpc.VmServiceStub(self.channel)

    @property
    def inventory(self) -> pb_grpc.InventoryServiceStub:
        return pb_grpc.InventoryServiceStub(self.channel)

    @property
    def account(self) -> pb_grpc.AccountServiceStub:
        return pb_grpc.AccountServiceStub(self.channel)

    def create(self, **fields) -> pb.CreateFaultToleranceVmInstanceResponse:
        return self.vm.CreateFaultToleranceVmInstance(
            pb.CreateFaultToleranceVmInstanceRequest(**fields), metadata=self.metadata
        )

    def query(self, rpc: str, *q: str, **kwargs):
        request = getattr(pb, f"{rpc}Request")(q=list(q), **kwargs)
        stub = self.vm if rpc in ("QueryVmInstance", "QueryVolume", "QueryFaultToleranceVm") else self.inventory
        return getattr(stub, rpc)(request, metadata=self.metadata).inventories


def log_in(channel: grpc.Channel, name: str = "admin", password: str = ADMIN_PASSWORD) -> Client:
    reply = pb_grpc.AccountServiceStub(channel).LogInByAccount(
        pb.LogInByAccountRequest(
            log_in_by_account=pb.LogInByAccountParams(
                account_name=name, password=hashlib.sha512(password.encode()).hexdigest()
            )
        )
    )
    return Client(channel, reply.inventory.uuid)


def start_server(tmp: Path, spec: dict | None, **config) -> ServerThread:
    path = None
    if spec is not None:
        path = tmp / "inventory.json"
        path.write_text(json.dumps(spec))
    return ServerThread(
        ServerConfig(
            data_dir=str(tmp / "data"),
            grpc_port=0,
            admin_password=ADMIN_PASSWORD,
            inventory_file=str(path) if path else None,
            with_demo=False,
            **config,
        )
    )


def rpc_error(call) -> tuple[grpc.StatusCode, Any]:
    """(status code, ErrorCode) of a call expected to fail."""
    try:
        call()
    except grpc.RpcError as e:
        details = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
        return e.code(), error_from_status_details(details) if details else None
    raise AssertionError("the call succeeded but was expected to fail")
