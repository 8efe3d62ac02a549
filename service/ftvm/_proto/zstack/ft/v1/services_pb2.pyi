from google.api import annotations_pb2 as _annotations_pb2
from ftvm._proto.zstack.ft.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogInByAccountParams(_message.Message):
    __slots__ = ("account_name", "password")
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    account_name: str
    password: str
    def __init__(self, account_name: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LogInByAccountRequest(_message.Message):
    __slots__ = ("log_in_by_account",)
    LOG_IN_BY_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    log_in_by_account: LogInByAccountParams
    def __init__(self, log_in_by_account: _Optional[_Union[LogInByAccountParams, _Mapping]] = ...) -> None: ...

class LogInByAccountResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.SessionInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.SessionInventory, _Mapping]] = ...) -> None: ...

class LogOutRequest(_message.Message):
    __slots__ = ("session_uuid",)
    SESSION_UUID_FIELD_NUMBER: _ClassVar[int]
    session_uuid: str
    def __init__(self, session_uuid: _Optional[str] = ...) -> None: ...

class LogOutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("name", "password", "type", "description", "resource_uuid", "system_tags", "user_tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    password: str
    type: str
    description: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., password: _Optional[str] = ..., type: _Optional[str] = ..., description: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateAccountResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.AccountInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.AccountInventory, _Mapping]] = ...) -> None: ...

class CreateFaultToleranceVmInstanceRequest(_message.Message):
    __slots__ = ("name", "description", "instance_offering_uuid", "cpu_num", "memory_size", "reserved_memory_size", "image_uuid", "l3_network_uuids", "default_l3_network_uuid", "data_disk_offering_uuids", "zone_uuid", "cluster_uuid", "host_uuid", "primary_storage_uuid_for_root_volume", "root_volume_system_tags", "data_volume_system_tags", "resource_uuid", "tag_uuids", "system_tags", "user_tags", "strategy", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_OFFERING_UUID_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    L3_NETWORK_UUIDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    DATA_DISK_OFFERING_UUIDS_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_STORAGE_UUID_FOR_ROOT_VOLUME_FIELD_NUMBER: _ClassVar[int]
    ROOT_VOLUME_SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    DATA_VOLUME_SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    TAG_UUIDS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    instance_offering_uuid: str
    cpu_num: int
    memory_size: int
    reserved_memory_size: int
    image_uuid: str
    l3_network_uuids: _containers.RepeatedScalarFieldContainer[str]
    default_l3_network_uuid: str
    data_disk_offering_uuids: _containers.RepeatedScalarFieldContainer[str]
    zone_uuid: str
    cluster_uuid: str
    host_uuid: str
    primary_storage_uuid_for_root_volume: str
    root_volume_system_tags: _containers.RepeatedScalarFieldContainer[str]
    data_volume_system_tags: _containers.RepeatedScalarFieldContainer[str]
    resource_uuid: str
    tag_uuids: _containers.RepeatedScalarFieldContainer[str]
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    strategy: str
    type: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., instance_offering_uuid: _Optional[str] = ..., cpu_num: _Optional[int] = ..., memory_size: _Optional[int] = ..., reserved_memory_size: _Optional[int] = ..., image_uuid: _Optional[str] = ..., l3_network_uuids: _Optional[_Iterable[str]] = ..., default_l3_network_uuid: _Optional[str] = ..., data_disk_offering_uuids: _Optional[_Iterable[str]] = ..., zone_uuid: _Optional[str] = ..., cluster_uuid: _Optional[str] = ..., host_uuid: _Optional[str] = ..., primary_storage_uuid_for_root_volume: _Optional[str] = ..., root_volume_system_tags: _Optional[_Iterable[str]] = ..., data_volume_system_tags: _Optional[_Iterable[str]] = ..., resource_uuid: _Optional[str] = ..., tag_uuids: _Optional[_Iterable[str]] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ..., strategy: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class CreateFaultToleranceVmInstanceResponse(_message.Message):
    __slots__ = ("success", "error", "primary_vm_inventory", "secondary_vm_inventory", "fault_tolerance_vm_group_inventory")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_VM_INVENTORY_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_VM_INVENTORY_FIELD_NUMBER: _ClassVar[int]
    FAULT_TOLERANCE_VM_GROUP_INVENTORY_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: _types_pb2.ErrorCode
    primary_vm_inventory: _types_pb2.VmInstanceInventory
    secondary_vm_inventory: _types_pb2.ShadowVmInstanceInventory
    fault_tolerance_vm_group_inventory: _types_pb2.FaultToleranceVmGroupInventory
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[_Union[_types_pb2.ErrorCode, _Mapping]] = ..., primary_vm_inventory: _Optional[_Union[_types_pb2.VmInstanceInventory, _Mapping]] = ..., secondary_vm_inventory: _Optional[_Union[_types_pb2.ShadowVmInstanceInventory, _Mapping]] = ..., fault_tolerance_vm_group_inventory: _Optional[_Union[_types_pb2.FaultToleranceVmGroupInventory, _Mapping]] = ...) -> None: ...

class GetFaultToleranceVmsRequest(_message.Message):
    __slots__ = ("fault_tolerance_vm_uuid",)
    FAULT_TOLERANCE_VM_UUID_FIELD_NUMBER: _ClassVar[int]
    fault_tolerance_vm_uuid: str
    def __init__(self, fault_tolerance_vm_uuid: _Optional[str] = ...) -> None: ...

class GetFaultToleranceVmsResponse(_message.Message):
    __slots__ = ("primary_vm_inventory", "secondary_vm_inventory")
    PRIMARY_VM_INVENTORY_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_VM_INVENTORY_FIELD_NUMBER: _ClassVar[int]
    primary_vm_inventory: _types_pb2.VmInstanceInventory
    secondary_vm_inventory: _types_pb2.ShadowVmInstanceInventory
    def __init__(self, primary_vm_inventory: _Optional[_Union[_types_pb2.VmInstanceInventory, _Mapping]] = ..., secondary_vm_inventory: _Optional[_Union[_types_pb2.ShadowVmInstanceInventory, _Mapping]] = ...) -> None: ...

class FailoverFaultToleranceVmParams(_message.Message):
    __slots__ = ("fault_tolerance_vm_uuid",)
    FAULT_TOLERANCE_VM_UUID_FIELD_NUMBER: _ClassVar[int]
    fault_tolerance_vm_uuid: str
    def __init__(self, fault_tolerance_vm_uuid: _Optional[str] = ...) -> None: ...

class FailoverFaultToleranceVmRequest(_message.Message):
    __slots__ = ("failover_fault_tolerance_vm",)
    FAILOVER_FAULT_TOLERANCE_VM_FIELD_NUMBER: _ClassVar[int]
    failover_fault_tolerance_vm: FailoverFaultToleranceVmParams
    def __init__(self, failover_fault_tolerance_vm: _Optional[_Union[FailoverFaultToleranceVmParams, _Mapping]] = ...) -> None: ...

class FailoverFaultToleranceVmResponse(_message.Message):
    __slots__ = ("primary_vm_inventory",)
    PRIMARY_VM_INVENTORY_FIELD_NUMBER: _ClassVar[int]
    primary_vm_inventory: _types_pb2.VmInstanceInventory
    def __init__(self, primary_vm_inventory: _Optional[_Union[_types_pb2.VmInstanceInventory, _Mapping]] = ...) -> None: ...

class DestroyVmInstanceRequest(_message.Message):
    __slots__ = ("uuid", "delete_mode")
    UUID_FIELD_NUMBER: _ClassVar[int]
    DELETE_MODE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    delete_mode: str
    def __init__(self, uuid: _Optional[str] = ..., delete_mode: _Optional[str] = ...) -> None: ...

class DestroyVmInstanceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueryManagementNodeRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryManagementNodeResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.ManagementNodeInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.ManagementNodeInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryZoneRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryZoneResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.ZoneInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.ZoneInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryClusterRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryClusterResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.ClusterInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.ClusterInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryHostRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryHostResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.HostInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.HostInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryPrimaryStorageRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryPrimaryStorageResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.PrimaryStorageInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.PrimaryStorageInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryL2NetworkRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryL2NetworkResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.L2NetworkInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.L2NetworkInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryL3NetworkRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryL3NetworkResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.L3NetworkInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.L3NetworkInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryIpRangeRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryIpRangeResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.IpRangeInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.IpRangeInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryImageRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryImageResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.ImageInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.ImageInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryInstanceOfferingRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryInstanceOfferingResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.InstanceOfferingInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.InstanceOfferingInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryDiskOfferingRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryDiskOfferingResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.DiskOfferingInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.DiskOfferingInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryGlobalConfigRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryGlobalConfigResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.GlobalConfigInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.GlobalConfigInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryVmInstanceRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryVmInstanceResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.VmInstanceInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.VmInstanceInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryVolumeRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryVolumeResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.VolumeInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.VolumeInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class QueryFaultToleranceVmRequest(_message.Message):
    __slots__ = ("q", "limit", "start", "sort", "reply_with_count")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    REPLY_WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    q: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    start: int
    sort: str
    reply_with_count: bool
    def __init__(self, q: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., start: _Optional[int] = ..., sort: _Optional[str] = ..., reply_with_count: _Optional[bool] = ...) -> None: ...

class QueryFaultToleranceVmResponse(_message.Message):
    __slots__ = ("inventories", "total")
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    inventories: _containers.RepeatedCompositeFieldContainer[_types_pb2.FaultToleranceVmGroupInventory]
    total: int
    def __init__(self, inventories: _Optional[_Iterable[_Union[_types_pb2.FaultToleranceVmGroupInventory, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class CreateZoneRequest(_message.Message):
    __slots__ = ("name", "description", "resource_uuid", "system_tags", "user_tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateZoneResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.ZoneInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.ZoneInventory, _Mapping]] = ...) -> None: ...

class CreateClusterRequest(_message.Message):
    __slots__ = ("zone_uuid", "name", "description", "hypervisor_type", "resource_uuid", "system_tags", "user_tags")
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    zone_uuid: str
    name: str
    description: str
    hypervisor_type: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, zone_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateClusterResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.ClusterInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.ClusterInventory, _Mapping]] = ...) -> None: ...

class AddKVMHostRequest(_message.Message):
    __slots__ = ("cluster_uuid", "name", "description", "management_ip", "username", "password", "ssh_port", "cpu_num", "memory_size", "ft_network_address", "failure_domain", "max_ft_vms", "max_ft_vcpus", "local_storage_capacity", "resource_uuid", "system_tags", "user_tags")
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_IP_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SSH_PORT_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    FT_NETWORK_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FT_VMS_FIELD_NUMBER: _ClassVar[int]
    MAX_FT_VCPUS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_STORAGE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    cluster_uuid: str
    name: str
    description: str
    management_ip: str
    username: str
    password: str
    ssh_port: int
    cpu_num: int
    memory_size: int
    ft_network_address: str
    failure_domain: str
    max_ft_vms: int
    max_ft_vcpus: int
    local_storage_capacity: int
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cluster_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., management_ip: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., ssh_port: _Optional[int] = ..., cpu_num: _Optional[int] = ..., memory_size: _Optional[int] = ..., ft_network_address: _Optional[str] = ..., failure_domain: _Optional[str] = ..., max_ft_vms: _Optional[int] = ..., max_ft_vcpus: _Optional[int] = ..., local_storage_capacity: _Optional[int] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddKVMHostResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.HostInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.HostInventory, _Mapping]] = ...) -> None: ...

class AddLocalPrimaryStorageRequest(_message.Message):
    __slots__ = ("zone_uuid", "name", "description", "url", "resource_uuid", "system_tags", "user_tags")
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    zone_uuid: str
    name: str
    description: str
    url: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, zone_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., url: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddLocalPrimaryStorageResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.PrimaryStorageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.PrimaryStorageInventory, _Mapping]] = ...) -> None: ...

class AddNfsPrimaryStorageRequest(_message.Message):
    __slots__ = ("zone_uuid", "name", "description", "url", "total_capacity", "resource_uuid", "system_tags", "user_tags")
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    zone_uuid: str
    name: str
    description: str
    url: str
    total_capacity: int
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, zone_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., url: _Optional[str] = ..., total_capacity: _Optional[int] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddNfsPrimaryStorageResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.PrimaryStorageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.PrimaryStorageInventory, _Mapping]] = ...) -> None: ...

class AddCephPrimaryStorageRequest(_message.Message):
    __slots__ = ("zone_uuid", "name", "description", "mon_urls", "total_capacity", "resource_uuid", "system_tags", "user_tags")
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MON_URLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    zone_uuid: str
    name: str
    description: str
    mon_urls: _containers.RepeatedScalarFieldContainer[str]
    total_capacity: int
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, zone_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., mon_urls: _Optional[_Iterable[str]] = ..., total_capacity: _Optional[int] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddCephPrimaryStorageResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.PrimaryStorageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.PrimaryStorageInventory, _Mapping]] = ...) -> None: ...

class CreateL2NoVlanNetworkRequest(_message.Message):
    __slots__ = ("zone_uuid", "name", "description", "physical_interface", "resource_uuid", "system_tags", "user_tags")
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    zone_uuid: str
    name: str
    description: str
    physical_interface: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, zone_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., physical_interface: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateL2NoVlanNetworkResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.L2NetworkInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.L2NetworkInventory, _Mapping]] = ...) -> None: ...

class CreateL3NetworkRequest(_message.Message):
    __slots__ = ("l2_network_uuid", "name", "description", "type", "system", "category", "ip_allocation_strategy", "resource_uuid", "system_tags", "user_tags")
    L2_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    IP_ALLOCATION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    l2_network_uuid: str
    name: str
    description: str
    type: str
    system: bool
    category: str
    ip_allocation_strategy: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, l2_network_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[str] = ..., system: _Optional[bool] = ..., category: _Optional[str] = ..., ip_allocation_strategy: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateL3NetworkResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.L3NetworkInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.L3NetworkInventory, _Mapping]] = ...) -> None: ...

class AddIpRangeRequest(_message.Message):
    __slots__ = ("l3_network_uuid", "name", "description", "start_ip", "end_ip", "netmask", "gateway", "resource_uuid", "system_tags", "user_tags")
    L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    START_IP_FIELD_NUMBER: _ClassVar[int]
    END_IP_FIELD_NUMBER: _ClassVar[int]
    NETMASK_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    l3_network_uuid: str
    name: str
    description: str
    start_ip: str
    end_ip: str
    netmask: str
    gateway: str
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, l3_network_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., start_ip: _Optional[str] = ..., end_ip: _Optional[str] = ..., netmask: _Optional[str] = ..., gateway: _Optional[str] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddIpRangeResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.IpRangeInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.IpRangeInventory, _Mapping]] = ...) -> None: ...

class AddImageRequest(_message.Message):
    __slots__ = ("name", "description", "url", "media_type", "guest_os_type", "platform", "architecture", "format", "size", "system", "resource_uuid", "system_tags", "user_tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    GUEST_OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    url: str
    media_type: str
    guest_os_type: str
    platform: str
    architecture: str
    format: str
    size: int
    system: bool
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., url: _Optional[str] = ..., media_type: _Optional[str] = ..., guest_os_type: _Optional[str] = ..., platform: _Optional[str] = ..., architecture: _Optional[str] = ..., format: _Optional[str] = ..., size: _Optional[int] = ..., system: _Optional[bool] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddImageResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.ImageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.ImageInventory, _Mapping]] = ...) -> None: ...

class CreateInstanceOfferingRequest(_message.Message):
    __slots__ = ("name", "description", "cpu_num", "memory_size", "cpu_speed", "type", "allocator_strategy", "sort_key", "resource_uuid", "system_tags", "user_tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    CPU_SPEED_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SORT_KEY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    cpu_num: int
    memory_size: int
    cpu_speed: int
    type: str
    allocator_strategy: str
    sort_key: int
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., cpu_num: _Optional[int] = ..., memory_size: _Optional[int] = ..., cpu_speed: _Optional[int] = ..., type: _Optional[str] = ..., allocator_strategy: _Optional[str] = ..., sort_key: _Optional[int] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateInstanceOfferingResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.InstanceOfferingInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.InstanceOfferingInventory, _Mapping]] = ...) -> None: ...

class CreateDiskOfferingRequest(_message.Message):
    __slots__ = ("name", "description", "disk_size", "allocator_strategy", "sort_key", "resource_uuid", "system_tags", "user_tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISK_SIZE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SORT_KEY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_TAGS_FIELD_NUMBER: _ClassVar[int]
    USER_TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    disk_size: int
    allocator_strategy: str
    sort_key: int
    resource_uuid: str
    system_tags: _containers.RepeatedScalarFieldContainer[str]
    user_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., disk_size: _Optional[int] = ..., allocator_strategy: _Optional[str] = ..., sort_key: _Optional[int] = ..., resource_uuid: _Optional[str] = ..., system_tags: _Optional[_Iterable[str]] = ..., user_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateDiskOfferingResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.DiskOfferingInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.DiskOfferingInventory, _Mapping]] = ...) -> None: ...

class AttachPrimaryStorageToClusterRequest(_message.Message):
    __slots__ = ("cluster_uuid", "primary_storage_uuid")
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_STORAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    cluster_uuid: str
    primary_storage_uuid: str
    def __init__(self, cluster_uuid: _Optional[str] = ..., primary_storage_uuid: _Optional[str] = ...) -> None: ...

class AttachPrimaryStorageToClusterResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.PrimaryStorageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.PrimaryStorageInventory, _Mapping]] = ...) -> None: ...

class AttachL2NetworkToClusterRequest(_message.Message):
    __slots__ = ("l2_network_uuid", "cluster_uuid")
    L2_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    l2_network_uuid: str
    cluster_uuid: str
    def __init__(self, l2_network_uuid: _Optional[str] = ..., cluster_uuid: _Optional[str] = ...) -> None: ...

class AttachL2NetworkToClusterResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.L2NetworkInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.L2NetworkInventory, _Mapping]] = ...) -> None: ...

class ChangeHostStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeHostStateRequest(_message.Message):
    __slots__ = ("uuid", "change_host_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_HOST_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_host_state: ChangeHostStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_host_state: _Optional[_Union[ChangeHostStateParams, _Mapping]] = ...) -> None: ...

class ChangeHostStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.HostInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.HostInventory, _Mapping]] = ...) -> None: ...

class ReconnectHostParams(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReconnectHostRequest(_message.Message):
    __slots__ = ("uuid", "reconnect_host")
    UUID_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_HOST_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    reconnect_host: ReconnectHostParams
    def __init__(self, uuid: _Optional[str] = ..., reconnect_host: _Optional[_Union[ReconnectHostParams, _Mapping]] = ...) -> None: ...

class ReconnectHostResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.HostInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.HostInventory, _Mapping]] = ...) -> None: ...

class ChangeZoneStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeZoneStateRequest(_message.Message):
    __slots__ = ("uuid", "change_zone_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ZONE_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_zone_state: ChangeZoneStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_zone_state: _Optional[_Union[ChangeZoneStateParams, _Mapping]] = ...) -> None: ...

class ChangeZoneStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.ZoneInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.ZoneInventory, _Mapping]] = ...) -> None: ...

class ChangeClusterStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeClusterStateRequest(_message.Message):
    __slots__ = ("uuid", "change_cluster_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_CLUSTER_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_cluster_state: ChangeClusterStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_cluster_state: _Optional[_Union[ChangeClusterStateParams, _Mapping]] = ...) -> None: ...

class ChangeClusterStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.ClusterInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.ClusterInventory, _Mapping]] = ...) -> None: ...

class ChangeL3NetworkStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeL3NetworkStateRequest(_message.Message):
    __slots__ = ("uuid", "change_l3_network_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_L3_NETWORK_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_l3_network_state: ChangeL3NetworkStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_l3_network_state: _Optional[_Union[ChangeL3NetworkStateParams, _Mapping]] = ...) -> None: ...

class ChangeL3NetworkStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.L3NetworkInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.L3NetworkInventory, _Mapping]] = ...) -> None: ...

class ChangeImageStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeImageStateRequest(_message.Message):
    __slots__ = ("uuid", "change_image_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_IMAGE_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_image_state: ChangeImageStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_image_state: _Optional[_Union[ChangeImageStateParams, _Mapping]] = ...) -> None: ...

class ChangeImageStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.ImageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.ImageInventory, _Mapping]] = ...) -> None: ...

class ChangeInstanceOfferingStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeInstanceOfferingStateRequest(_message.Message):
    __slots__ = ("uuid", "change_instance_offering_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_INSTANCE_OFFERING_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_instance_offering_state: ChangeInstanceOfferingStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_instance_offering_state: _Optional[_Union[ChangeInstanceOfferingStateParams, _Mapping]] = ...) -> None: ...

class ChangeInstanceOfferingStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.InstanceOfferingInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.InstanceOfferingInventory, _Mapping]] = ...) -> None: ...

class ChangeDiskOfferingStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangeDiskOfferingStateRequest(_message.Message):
    __slots__ = ("uuid", "change_disk_offering_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_DISK_OFFERING_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_disk_offering_state: ChangeDiskOfferingStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_disk_offering_state: _Optional[_Union[ChangeDiskOfferingStateParams, _Mapping]] = ...) -> None: ...

class ChangeDiskOfferingStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.DiskOfferingInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.DiskOfferingInventory, _Mapping]] = ...) -> None: ...

class ChangePrimaryStorageStateParams(_message.Message):
    __slots__ = ("state_event",)
    STATE_EVENT_FIELD_NUMBER: _ClassVar[int]
    state_event: str
    def __init__(self, state_event: _Optional[str] = ...) -> None: ...

class ChangePrimaryStorageStateRequest(_message.Message):
    __slots__ = ("uuid", "change_primary_storage_state")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PRIMARY_STORAGE_STATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    change_primary_storage_state: ChangePrimaryStorageStateParams
    def __init__(self, uuid: _Optional[str] = ..., change_primary_storage_state: _Optional[_Union[ChangePrimaryStorageStateParams, _Mapping]] = ...) -> None: ...

class ChangePrimaryStorageStateResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.PrimaryStorageInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.PrimaryStorageInventory, _Mapping]] = ...) -> None: ...

class UpdateGlobalConfigParams(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: str
    def __init__(self, value: _Optional[str] = ...) -> None: ...

class UpdateGlobalConfigRequest(_message.Message):
    __slots__ = ("category", "name", "update_global_config")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_GLOBAL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    category: str
    name: str
    update_global_config: UpdateGlobalConfigParams
    def __init__(self, category: _Optional[str] = ..., name: _Optional[str] = ..., update_global_config: _Optional[_Union[UpdateGlobalConfigParams, _Mapping]] = ...) -> None: ...

class UpdateGlobalConfigResponse(_message.Message):
    __slots__ = ("inventory",)
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    inventory: _types_pb2.GlobalConfigInventory
    def __init__(self, inventory: _Optional[_Union[_types_pb2.GlobalConfigInventory, _Mapping]] = ...) -> None: ...
