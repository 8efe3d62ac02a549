"""InventoryService: the admin writes (zones .. global config) and the queries any logged-in account may run.

Queries read the store's views; the derived fields come from the domain: capacity figures from
`domain.capacity` (hosts: total and available CPU, available memory; primary storage: total and available, one
`localStorageHostRefs` entry per host of a local storage), attached clusters of storages and L2 networks and the IP
ranges of L3 networks from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from ftvm._proto.zstack.ft.v1 import services_pb2, services_pb2_grpc, types_pb2
from ftvm.domain.accounts import Account, Accounts
from ftvm.domain.capacity import host_capacity, storage_capacity
from ftvm.domain.common import Domain
from ftvm.domain.ft_actions import FtActions
from ftvm.domain.inventory import InventoryAdmin
from ftvm.domain.query import run_query
from ftvm.domain.replication import management_node_view
from ftvm.store import Row

from .base import rpc
from .convert import QueryMessage, optional, query_request, to_message

Context = grpc.aio.ServicerContext


def _tags(request: Any) -> dict[str, list[str]]:
    return dict(system_tags=list(request.system_tags), user_tags=list(request.user_tags))


class InventoryServicer(services_pb2_grpc.InventoryServiceServicer):
    def __init__(self, domain: Domain, accounts: Accounts, ft: FtActions) -> None:
        self.domain = domain
        self.accounts = accounts
        self.admin = InventoryAdmin(domain)
        self.ft = ft

    # -- rows -> inventories -------------------------------------------------------------------------------------
    def _host(self, row: Row) -> types_pb2.HostInventory:
        capacity = host_capacity(self.domain, row)
        return to_message(
            types_pb2.HostInventory,
            row,
            total_cpu_capacity=capacity.total_cpu,
            available_cpu_capacity=capacity.available_cpu,
            available_memory_capacity=capacity.available_memory,
        )

    def _primary_storage(self, row: Row) -> types_pb2.PrimaryStorageInventory:
        capacity = storage_capacity(self.domain, row)
        disks = [
            types_pb2.LocalStorageHostRefInventory(
                host_uuid=d.host_uuid, total_capacity=d.total, available_capacity=d.available
            )
            for d in capacity.disks
        ]
        return to_message(
            types_pb2.PrimaryStorageInventory,
            row,
            total_capacity=capacity.total,
            available_capacity=capacity.available,
            local_storage_host_refs=disks,
            attached_cluster_uuids=sorted(self.domain.catalog.storage_clusters.get(row["uuid"], ())),
        )

    def _l2_network(self, row: Row) -> types_pb2.L2NetworkInventory:
        clusters = sorted(self.domain.catalog.l2_clusters.get(row["uuid"], ()))
        return to_message(types_pb2.L2NetworkInventory, row, attached_cluster_uuids=clusters)

    def _l3_network(self, row: Row) -> types_pb2.L3NetworkInventory:
        ranges = [to_message(types_pb2.IpRangeInventory, r) for r in self.domain.catalog.ip_ranges.get(row["uuid"], ())]
        return to_message(types_pb2.L3NetworkInventory, row, ip_ranges=ranges)

    async def _query(
        self, view: str, request: QueryMessage, convert: Callable[[Row], Message], response: type[Message]
    ) -> Message:
        rows, total = await run_query(self.domain, view, query_request(request))
        return response(inventories=[convert(r) for r in rows], total=total)

    # -- queries: any logged-in account ------------------------------------------------------------------------
    @rpc()
    async def QueryZone(self, request, context: Context, account: Account):
        return await self._query(
            "zones", request, lambda r: to_message(types_pb2.ZoneInventory, r), services_pb2.QueryZoneResponse
        )

    @rpc()
    async def QueryCluster(self, request, context: Context, account: Account):
        return await self._query(
            "clusters", request, lambda r: to_message(types_pb2.ClusterInventory, r), services_pb2.QueryClusterResponse
        )

    @rpc()
    async def QueryHost(self, request, context: Context, account: Account):
        return await self._query("host_inventory", request, self._host, services_pb2.QueryHostResponse)

    @rpc()
    async def QueryPrimaryStorage(self, request, context: Context, account: Account):
        return await self._query(
            "primary_storage_inventory", request, self._primary_storage, services_pb2.QueryPrimaryStorageResponse
        )

    @rpc()
    async def QueryL2Network(self, request, context: Context, account: Account):
        return await self._query("l2_networks", request, self._l2_network, services_pb2.QueryL2NetworkResponse)

    @rpc()
    async def QueryL3Network(self, request, context: Context, account: Account):
        return await self._query("l3_networks", request, self._l3_network, services_pb2.QueryL3NetworkResponse)

    @rpc()
    async def QueryIpRange(self, request, context: Context, account: Account):
        return await self._query(
            "ip_ranges", request, lambda r: to_message(types_pb2.IpRangeInventory, r), services_pb2.QueryIpRangeResponse
        )

    @rpc()
    async def QueryImage(self, request, context: Context, account: Account):
        return await self._query(
            "images", request, lambda r: to_message(types_pb2.ImageInventory, r), services_pb2.QueryImageResponse
        )

    @rpc()
    async def QueryInstanceOffering(self, request, context: Context, account: Account):
        return await self._query(
            "instance_offerings",
            request,
            lambda r: to_message(types_pb2.InstanceOfferingInventory, r),
            services_pb2.QueryInstanceOfferingResponse,
        )

    @rpc()
    async def QueryDiskOffering(self, request, context: Context, account: Account):
        return await self._query(
            "disk_offerings",
            request,
            lambda r: to_message(types_pb2.DiskOfferingInventory, r),
            services_pb2.QueryDiskOfferingResponse,
        )

    @rpc()
    async def QueryGlobalConfig(self, request, context: Context, account: Account):
        await self.admin.ensure_global_configs()  # every known key is a row, so q/sort/paging see them all
        return await self._query(
            "global_configs",
            request,
            lambda r: to_message(types_pb2.GlobalConfigInventory, r),
            services_pb2.QueryGlobalConfigResponse,
        )

    @rpc(admin=True)
    async def QueryManagementNode(self, request, context: Context, account: Account):
        return await self._query(
            "management_node_inventory",
            request,
            lambda r: to_message(types_pb2.ManagementNodeInventory, management_node_view(r)),
            services_pb2.QueryManagementNodeResponse,
        )

    # -- creates: admin only -----------------------------------------------------------------------------------
    @rpc(admin=True)
    async def CreateZone(self, request, context: Context, account: Account):
        row = await self.admin.create_zone(
            name=request.name,
            description=optional(request, "description"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.CreateZoneResponse(inventory=to_message(types_pb2.ZoneInventory, row))

    @rpc(admin=True)
    async def CreateCluster(self, request, context: Context, account: Account):
        row = await self.admin.create_cluster(
            zone_uuid=request.zone_uuid,
            name=request.name,
            description=optional(request, "description"),
            hypervisor_type=optional(request, "hypervisor_type"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.CreateClusterResponse(inventory=to_message(types_pb2.ClusterInventory, row))

    @rpc(admin=True)
    async def AddKVMHost(self, request, context: Context, account: Account):
        row = await self.admin.add_kvm_host(
            cluster_uuid=request.cluster_uuid,
            name=request.name,
            description=optional(request, "description"),
            management_ip=request.management_ip,
            cpu_num=request.cpu_num,
            memory_size=request.memory_size,
            ft_network_address=optional(request, "ft_network_address"),
            failure_domain=optional(request, "failure_domain"),
            max_ft_vms=optional(request, "max_ft_vms"),
            max_ft_vcpus=optional(request, "max_ft_vcpus"),
            local_storage_capacity=optional(request, "local_storage_capacity"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.AddKVMHostResponse(inventory=self._host(row))

    @rpc(admin=True)
    async def AddLocalPrimaryStorage(self, request, context: Context, account: Account):
        row = await self.admin.add_local_primary_storage(
            zone_uuid=request.zone_uuid,
            name=request.name,
            description=optional(request, "description"),
            url=request.url,
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.AddLocalPrimaryStorageResponse(inventory=self._primary_storage(row))

    @rpc(admin=True)
    async def AddNfsPrimaryStorage(self, request, context: Context, account: Account):
        row = await self.admin.add_nfs_primary_storage(
            zone_uuid=request.zone_uuid,
            name=request.name,
            description=optional(request, "description"),
            url=request.url,
            total_capacity=request.total_capacity,
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.AddNfsPrimaryStorageResponse(inventory=self._primary_storage(row))

    @rpc(admin=True)
    async def AddCephPrimaryStorage(self, request, context: Context, account: Account):
        row = await self.admin.add_ceph_primary_storage(
            zone_uuid=request.zone_uuid,
            name=request.name,
            description=optional(request, "description"),
            mon_urls=list(request.mon_urls),
            total_capacity=request.total_capacity,
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.AddCephPrimaryStorageResponse(inventory=self._primary_storage(row))

    @rpc(admin=True)
    async def CreateL2NoVlanNetwork(self, request, context: Context, account: Account):
        row = await self.admin.create_l2_no_vlan_network(
            zone_uuid=request.zone_uuid,
            name=request.name,
            description=optional(request, "description"),
            physical_interface=request.physical_interface,
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.CreateL2NoVlanNetworkResponse(inventory=self._l2_network(row))

    @rpc(admin=True)
    async def CreateL3Network(self, request, context: Context, account: Account):
        row = await self.admin.create_l3_network(
            l2_network_uuid=request.l2_network_uuid,
            name=request.name,
            description=optional(request, "description"),
            network_type=optional(request, "type"),
            system=optional(request, "system"),
            category=optional(request, "category"),
            ip_allocation_strategy=optional(request, "ip_allocation_strategy"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.CreateL3NetworkResponse(inventory=self._l3_network(row))

    @rpc(admin=True)
    async def AddIpRange(self, request, context: Context, account: Account):
        row = await self.admin.add_ip_range(
            l3_network_uuid=request.l3_network_uuid,
            name=request.name,
            description=optional(request, "description"),
            start_ip=request.start_ip,
            end_ip=request.end_ip,
            netmask=request.netmask,
            gateway=request.gateway,
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.AddIpRangeResponse(inventory=to_message(types_pb2.IpRangeInventory, row))

    @rpc(admin=True)
    async def AddImage(self, request, context: Context, account: Account):
        row = await self.admin.add_image(
            name=request.name,
            description=optional(request, "description"),
            url=request.url,
            media_type=optional(request, "media_type"),
            guest_os_type=optional(request, "guest_os_type"),
            platform=optional(request, "platform"),
            architecture=optional(request, "architecture"),
            image_format=optional(request, "format"),
            size=optional(request, "size"),
            system=optional(request, "system"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.AddImageResponse(inventory=to_message(types_pb2.ImageInventory, row))

    @rpc(admin=True)
    async def CreateInstanceOffering(self, request, context: Context, account: Account):
        row = await self.admin.create_instance_offering(
            name=request.name,
            description=optional(request, "description"),
            cpu_num=request.cpu_num,
            memory_size=request.memory_size,
            cpu_speed=optional(request, "cpu_speed"),
            offering_type=optional(request, "type"),
            allocator_strategy=optional(request, "allocator_strategy"),
            sort_key=optional(request, "sort_key"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.CreateInstanceOfferingResponse(
            inventory=to_message(types_pb2.InstanceOfferingInventory, row)
        )

    @rpc(admin=True)
    async def CreateDiskOffering(self, request, context: Context, account: Account):
        row = await self.admin.create_disk_offering(
            name=request.name,
            description=optional(request, "description"),
            disk_size=request.disk_size,
            allocator_strategy=optional(request, "allocator_strategy"),
            sort_key=optional(request, "sort_key"),
            resource_uuid=optional(request, "resource_uuid"),
            **_tags(request),
        )
        return services_pb2.CreateDiskOfferingResponse(inventory=to_message(types_pb2.DiskOfferingInventory, row))

    # -- attachments -------------------------------------------------------------------------------------------
    @rpc(admin=True)
    async def AttachPrimaryStorageToCluster(self, request, context: Context, account: Account):
        row = await self.admin.attach_primary_storage_to_cluster(
            cluster_uuid=request.cluster_uuid, primary_storage_uuid=request.primary_storage_uuid
        )
        return services_pb2.AttachPrimaryStorageToClusterResponse(inventory=self._primary_storage(row))

    @rpc(admin=True)
    async def AttachL2NetworkToCluster(self, request, context: Context, account: Account):
        row = await self.admin.attach_l2_network_to_cluster(
            l2_network_uuid=request.l2_network_uuid, cluster_uuid=request.cluster_uuid
        )
        return services_pb2.AttachL2NetworkToClusterResponse(inventory=self._l2_network(row))

    # -- state changes (the event sits in a params message, as ZStack's `{"changeXState": {...}}` body) ---------
    @rpc(admin=True)
    async def ChangeHostState(self, request, context: Context, account: Account):
        event = request.change_host_state.state_event or None

        async def change_state() -> Row:
            return await self.admin.change_host_state(uuid=request.uuid, state_event=event)

        row = await (self.ft.maintain_host(request.uuid, change_state) if event == "maintain" else change_state())
        return services_pb2.ChangeHostStateResponse(inventory=self._host(row))

    @rpc(admin=True)
    async def ReconnectHost(self, request, context: Context, account: Account):
        row = await self.ft.reconnect_host(request.uuid)
        return services_pb2.ReconnectHostResponse(inventory=self._host(row))

    @rpc(admin=True)
    async def ChangeZoneState(self, request, context: Context, account: Account):
        row = await self.admin.change_zone_state(
            uuid=request.uuid, state_event=request.change_zone_state.state_event or None
        )
        return services_pb2.ChangeZoneStateResponse(inventory=to_message(types_pb2.ZoneInventory, row))

    @rpc(admin=True)
    async def ChangeClusterState(self, request, context: Context, account: Account):
        row = await self.admin.change_cluster_state(
            uuid=request.uuid, state_event=request.change_cluster_state.state_event or None
        )
        return services_pb2.ChangeClusterStateResponse(inventory=to_message(types_pb2.ClusterInventory, row))

    @rpc(admin=True)
    async def ChangeL3NetworkState(self, request, context: Context, account: Account):
        row = await self.admin.change_l3_network_state(
            uuid=request.uuid, state_event=request.change_l3_network_state.state_event or None
        )
        return services_pb2.ChangeL3NetworkStateResponse(inventory=self._l3_network(row))

    @rpc(admin=True)
    async def ChangeImageState(self, request, context: Context, account: Account):
        row = await self.admin.change_image_state(
            uuid=request.uuid, state_event=request.change_image_state.state_event or None
        )
        return services_pb2.ChangeImageStateResponse(inventory=to_message(types_pb2.ImageInventory, row))

    @rpc(admin=True)
    async def ChangeInstanceOfferingState(self, request, context: Context, account: Account):
        row = await self.admin.change_instance_offering_state(
            uuid=request.uuid, state_event=request.change_instance_offering_state.state_event or None
        )
        return services_pb2.ChangeInstanceOfferingStateResponse(
            inventory=to_message(types_pb2.InstanceOfferingInventory, row)
        )

    @rpc(admin=True)
    async def ChangeDiskOfferingState(self, request, context: Context, account: Account):
        row = await self.admin.change_disk_offering_state(
            uuid=request.uuid, state_event=request.change_disk_offering_state.state_event or None
        )
        return services_pb2.ChangeDiskOfferingStateResponse(inventory=to_message(types_pb2.DiskOfferingInventory, row))

    @rpc(admin=True)
    async def ChangePrimaryStorageState(self, request, context: Context, account: Account):
        row = await self.admin.change_primary_storage_state(
            uuid=request.uuid, state_event=request.change_primary_storage_state.state_event or None
        )
        return services_pb2.ChangePrimaryStorageStateResponse(inventory=self._primary_storage(row))

    @rpc(admin=True)
    async def UpdateGlobalConfig(self, request, context: Context, account: Account):
        params = optional(request, "update_global_config")
        row = await self.admin.update_global_config(
            category=request.category, name=request.name, value=params.value if params is not None else None
        )
        return services_pb2.UpdateGlobalConfigResponse(inventory=to_message(types_pb2.GlobalConfigInventory, row))
