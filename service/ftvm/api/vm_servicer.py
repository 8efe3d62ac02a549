"""AccountService and VmService: proto <-> domain, nothing more."""

from __future__ import annotations

from typing import Any

from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from ftvm._proto.zstack.ft.v1 import services_pb2_grpc
from ftvm._proto.zstack.ft.v1 import types_pb2 as types
from ftvm.domain.accounts import Accounts
from ftvm.domain.create import CreateFlow, CreateFtVm
from ftvm.domain.ft_actions import FtActions
from ftvm.domain.vms import Vms

from .base import client_address, metadata_value, rpc
from .convert import query_request, to_message
from .metadata import IDEMPOTENCY_KEY

_OPTIONAL = (
    "description",
    "instance_offering_uuid",
    "cpu_num",
    "memory_size",
    "reserved_memory_size",
    "default_l3_network_uuid",
    "zone_uuid",
    "cluster_uuid",
    "host_uuid",
    "primary_storage_uuid_for_root_volume",
    "resource_uuid",
    "strategy",
    "type",
)
_REPEATED = (
    "l3_network_uuids",
    "data_disk_offering_uuids",
    "root_volume_system_tags",
    "data_volume_system_tags",
    "tag_uuids",
    "system_tags",
    "user_tags",
)


def create_request(request: pb.CreateFaultToleranceVmInstanceRequest) -> CreateFtVm:
    values: dict[str, Any] = {name: getattr(request, name) if request.HasField(name) else None for name in _OPTIONAL}
    values.update({name: list(getattr(request, name)) for name in _REPEATED})
    return CreateFtVm(name=request.name or None, image_uuid=request.image_uuid or None, **values)


def vm_message(cls, view: dict, like=None):
    """`like`: an already converted message with the same NICs, volumes and CD-ROMs (the group shows the
    primary's), whose nested messages are reused instead of converted again."""
    if like is not None:
        return to_message(cls, view, vm_nics=like.vm_nics, all_volumes=like.all_volumes, vm_cd_roms=like.vm_cd_roms)
    nics = [
        to_message(types.VmNicInventory, n, used_ips=[to_message(types.UsedIpInventory, u) for u in n["used_ips"]])
        for n in view["vm_nics"]
    ]
    volumes = [to_message(types.VolumeInventory, v) for v in view["all_volumes"]]
    cdroms = [to_message(types.VmCdRomInventory, c) for c in view["vm_cd_roms"]]
    return to_message(cls, view, vm_nics=nics, all_volumes=volumes, vm_cd_roms=cdroms)


class AccountServicer(services_pb2_grpc.AccountServiceServicer):
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    @rpc(public=True)
    async def LogInByAccount(self, request, context, account):
        params = request.log_in_by_account
        session = await self.accounts.log_in(
            params.account_name, params.password, client_address(context.peer(), context.invocation_metadata())
        )
        return pb.LogInByAccountResponse(
            inventory=to_message(
                types.SessionInventory,
                dict(
                    uuid=session.uuid,
                    account_uuid=session.account.uuid,
                    user_uuid=session.account.uuid,
                    expired_date=session.expired_date,
                    create_date=session.create_date,
                ),
            )
        )

    @rpc(public=True)
    async def LogOut(self, request, context, account):
        await self.accounts.log_out(request.session_uuid)
        return pb.LogOutResponse()

    @rpc(admin=True)
    async def CreateAccount(self, request, context, account):
        row = await self.accounts.create_account(
            request.name,
            request.password,
            request.type if request.HasField("type") else None,
            description=request.description if request.HasField("description") else None,
            resource_uuid=request.resource_uuid if request.HasField("resource_uuid") else None,
            system_tags=list(request.system_tags),
            user_tags=list(request.user_tags),
        )
        return pb.CreateAccountResponse(inventory=to_message(types.AccountInventory, row))


class VmServicer(services_pb2_grpc.VmServiceServicer):
    def __init__(self, accounts: Accounts, create_flow: CreateFlow, vms: Vms, ft: FtActions) -> None:
        self.accounts = accounts
        self._create = create_flow
        self._vms = vms
        self._ft = ft

    @rpc()
    async def FailoverFaultToleranceVm(self, request, context, account):
        primary = await self._ft.failover(account, request.failover_fault_tolerance_vm.fault_tolerance_vm_uuid)
        return pb.FailoverFaultToleranceVmResponse(primary_vm_inventory=vm_message(types.VmInstanceInventory, primary))

    @rpc()
    async def CreateFaultToleranceVmInstance(self, request, context, account):
        key = metadata_value(context, IDEMPOTENCY_KEY)
        result = await self._create.create(account, create_request(request), idempotency_key=key)
        primary = vm_message(types.VmInstanceInventory, result.primary)
        return pb.CreateFaultToleranceVmInstanceResponse(
            success=True,
            primary_vm_inventory=primary,
            secondary_vm_inventory=(
                vm_message(types.ShadowVmInstanceInventory, result.secondary) if result.secondary else None
            ),
            fault_tolerance_vm_group_inventory=vm_message(
                types.FaultToleranceVmGroupInventory, result.group, like=primary
            ),
        )

    @rpc()
    async def GetFaultToleranceVms(self, request, context, account):
        primary, secondary = await self._vms.get_pair(account, request.fault_tolerance_vm_uuid)
        return pb.GetFaultToleranceVmsResponse(
            primary_vm_inventory=vm_message(types.VmInstanceInventory, primary),
            secondary_vm_inventory=vm_message(types.ShadowVmInstanceInventory, secondary) if secondary else None,
        )

    @rpc()
    async def DestroyVmInstance(self, request, context, account):
        await self._vms.destroy(account, request.uuid)
        return pb.DestroyVmInstanceResponse()

    @rpc()
    async def QueryVmInstance(self, request, context, account):
        views, total = await self._vms.query_vms(account, query_request(request))
        return pb.QueryVmInstanceResponse(
            inventories=[vm_message(types.VmInstanceInventory, v) for v in views], total=total
        )

    @rpc()
    async def QueryFaultToleranceVm(self, request, context, account):
        views, total = await self._vms.query_groups(account, query_request(request))
        return pb.QueryFaultToleranceVmResponse(
            inventories=[vm_message(types.FaultToleranceVmGroupInventory, v) for v in views], total=total
        )

    @rpc()
    async def QueryVolume(self, request, context, account):
        rows, total = await self._vms.query_volumes(account, query_request(request))
        return pb.QueryVolumeResponse(inventories=[to_message(types.VolumeInventory, r) for r in rows], total=total)
