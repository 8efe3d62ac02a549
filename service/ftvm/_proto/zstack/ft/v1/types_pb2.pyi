import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(_message.Message):
    __slots__ = ("code", "description", "details", "elaboration", "opaque", "cause")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ELABORATION_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    code: str
    description: str
    details: str
    elaboration: str
    opaque: _struct_pb2.Struct
    cause: ErrorCode
    def __init__(self, code: _Optional[str] = ..., description: _Optional[str] = ..., details: _Optional[str] = ..., elaboration: _Optional[str] = ..., opaque: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cause: _Optional[_Union[ErrorCode, _Mapping]] = ...) -> None: ...

class UsedIpInventory(_message.Message):
    __slots__ = ("uuid", "ip_range_uuid", "l3_network_uuid", "ip_version", "ip", "netmask", "gateway", "used_for", "ip_in_long", "vm_nic_uuid", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    IP_RANGE_UUID_FIELD_NUMBER: _ClassVar[int]
    L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    NETMASK_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    USED_FOR_FIELD_NUMBER: _ClassVar[int]
    IP_IN_LONG_FIELD_NUMBER: _ClassVar[int]
    VM_NIC_UUID_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    ip_range_uuid: str
    l3_network_uuid: str
    ip_version: int
    ip: str
    netmask: str
    gateway: str
    used_for: str
    ip_in_long: int
    vm_nic_uuid: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., ip_range_uuid: _Optional[str] = ..., l3_network_uuid: _Optional[str] = ..., ip_version: _Optional[int] = ..., ip: _Optional[str] = ..., netmask: _Optional[str] = ..., gateway: _Optional[str] = ..., used_for: _Optional[str] = ..., ip_in_long: _Optional[int] = ..., vm_nic_uuid: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VmNicInventory(_message.Message):
    __slots__ = ("uuid", "vm_instance_uuid", "l3_network_uuid", "ip", "mac", "hypervisor_type", "netmask", "gateway", "meta_data", "ip_version", "driver_type", "internal_name", "device_id", "type", "state", "create_date", "last_op_date", "used_ips")
    UUID_FIELD_NUMBER: _ClassVar[int]
    VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    NETMASK_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    META_DATA_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    DRIVER_TYPE_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    USED_IPS_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    vm_instance_uuid: str
    l3_network_uuid: str
    ip: str
    mac: str
    hypervisor_type: str
    netmask: str
    gateway: str
    meta_data: str
    ip_version: int
    driver_type: str
    internal_name: str
    device_id: int
    type: str
    state: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    used_ips: _containers.RepeatedCompositeFieldContainer[UsedIpInventory]
    def __init__(self, uuid: _Optional[str] = ..., vm_instance_uuid: _Optional[str] = ..., l3_network_uuid: _Optional[str] = ..., ip: _Optional[str] = ..., mac: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., netmask: _Optional[str] = ..., gateway: _Optional[str] = ..., meta_data: _Optional[str] = ..., ip_version: _Optional[int] = ..., driver_type: _Optional[str] = ..., internal_name: _Optional[str] = ..., device_id: _Optional[int] = ..., type: _Optional[str] = ..., state: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., used_ips: _Optional[_Iterable[_Union[UsedIpInventory, _Mapping]]] = ...) -> None: ...

class VolumeInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "primary_storage_uuid", "vm_instance_uuid", "disk_offering_uuid", "root_image_uuid", "install_path", "type", "format", "size", "actual_size", "device_id", "state", "status", "create_date", "last_op_date", "is_shareable", "volume_qos", "last_detach_date", "last_vm_instance_uuid")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_STORAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    DISK_OFFERING_UUID_FIELD_NUMBER: _ClassVar[int]
    ROOT_IMAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    INSTALL_PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    IS_SHAREABLE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_QOS_FIELD_NUMBER: _ClassVar[int]
    LAST_DETACH_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    primary_storage_uuid: str
    vm_instance_uuid: str
    disk_offering_uuid: str
    root_image_uuid: str
    install_path: str
    type: str
    format: str
    size: int
    actual_size: int
    device_id: int
    state: str
    status: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    is_shareable: bool
    volume_qos: str
    last_detach_date: _timestamp_pb2.Timestamp
    last_vm_instance_uuid: str
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., primary_storage_uuid: _Optional[str] = ..., vm_instance_uuid: _Optional[str] = ..., disk_offering_uuid: _Optional[str] = ..., root_image_uuid: _Optional[str] = ..., install_path: _Optional[str] = ..., type: _Optional[str] = ..., format: _Optional[str] = ..., size: _Optional[int] = ..., actual_size: _Optional[int] = ..., device_id: _Optional[int] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_shareable: _Optional[bool] = ..., volume_qos: _Optional[str] = ..., last_detach_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_vm_instance_uuid: _Optional[str] = ...) -> None: ...

class VmCdRomInventory(_message.Message):
    __slots__ = ("uuid", "vm_instance_uuid", "device_id", "iso_uuid", "iso_install_path", "name", "description", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ISO_UUID_FIELD_NUMBER: _ClassVar[int]
    ISO_INSTALL_PATH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    vm_instance_uuid: str
    device_id: int
    iso_uuid: str
    iso_install_path: str
    name: str
    description: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., vm_instance_uuid: _Optional[str] = ..., device_id: _Optional[int] = ..., iso_uuid: _Optional[str] = ..., iso_install_path: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VmInstanceInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "cluster_uuid", "image_uuid", "host_uuid", "last_host_uuid", "instance_offering_uuid", "root_volume_uuid", "platform", "architecture", "default_l3_network_uuid", "type", "hypervisor_type", "memory_size", "cpu_num", "cpu_speed", "allocator_strategy", "create_date", "last_op_date", "state", "guest_os_type", "vm_nics", "all_volumes", "vm_cd_roms")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    LAST_HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_OFFERING_UUID_FIELD_NUMBER: _ClassVar[int]
    ROOT_VOLUME_UUID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    CPU_SPEED_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GUEST_OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    VM_NICS_FIELD_NUMBER: _ClassVar[int]
    ALL_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    VM_CD_ROMS_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    cluster_uuid: str
    image_uuid: str
    host_uuid: str
    last_host_uuid: str
    instance_offering_uuid: str
    root_volume_uuid: str
    platform: str
    architecture: str
    default_l3_network_uuid: str
    type: str
    hypervisor_type: str
    memory_size: int
    cpu_num: int
    cpu_speed: int
    allocator_strategy: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    state: str
    guest_os_type: str
    vm_nics: _containers.RepeatedCompositeFieldContainer[VmNicInventory]
    all_volumes: _containers.RepeatedCompositeFieldContainer[VolumeInventory]
    vm_cd_roms: _containers.RepeatedCompositeFieldContainer[VmCdRomInventory]
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., cluster_uuid: _Optional[str] = ..., image_uuid: _Optional[str] = ..., host_uuid: _Optional[str] = ..., last_host_uuid: _Optional[str] = ..., instance_offering_uuid: _Optional[str] = ..., root_volume_uuid: _Optional[str] = ..., platform: _Optional[str] = ..., architecture: _Optional[str] = ..., default_l3_network_uuid: _Optional[str] = ..., type: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., memory_size: _Optional[int] = ..., cpu_num: _Optional[int] = ..., cpu_speed: _Optional[int] = ..., allocator_strategy: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[str] = ..., guest_os_type: _Optional[str] = ..., vm_nics: _Optional[_Iterable[_Union[VmNicInventory, _Mapping]]] = ..., all_volumes: _Optional[_Iterable[_Union[VolumeInventory, _Mapping]]] = ..., vm_cd_roms: _Optional[_Iterable[_Union[VmCdRomInventory, _Mapping]]] = ...) -> None: ...

class ShadowVmInstanceInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "cluster_uuid", "image_uuid", "host_uuid", "last_host_uuid", "instance_offering_uuid", "root_volume_uuid", "platform", "architecture", "default_l3_network_uuid", "type", "hypervisor_type", "memory_size", "cpu_num", "cpu_speed", "allocator_strategy", "create_date", "last_op_date", "state", "guest_os_type", "vm_nics", "all_volumes", "vm_cd_roms", "primary_vm_instance_uuid", "secondary_vm_instance_uuid", "status")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    LAST_HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_OFFERING_UUID_FIELD_NUMBER: _ClassVar[int]
    ROOT_VOLUME_UUID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    CPU_SPEED_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GUEST_OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    VM_NICS_FIELD_NUMBER: _ClassVar[int]
    ALL_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    VM_CD_ROMS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    cluster_uuid: str
    image_uuid: str
    host_uuid: str
    last_host_uuid: str
    instance_offering_uuid: str
    root_volume_uuid: str
    platform: str
    architecture: str
    default_l3_network_uuid: str
    type: str
    hypervisor_type: str
    memory_size: int
    cpu_num: int
    cpu_speed: int
    allocator_strategy: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    state: str
    guest_os_type: str
    vm_nics: _containers.RepeatedCompositeFieldContainer[VmNicInventory]
    all_volumes: _containers.RepeatedCompositeFieldContainer[VolumeInventory]
    vm_cd_roms: _containers.RepeatedCompositeFieldContainer[VmCdRomInventory]
    primary_vm_instance_uuid: str
    secondary_vm_instance_uuid: str
    status: str
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., cluster_uuid: _Optional[str] = ..., image_uuid: _Optional[str] = ..., host_uuid: _Optional[str] = ..., last_host_uuid: _Optional[str] = ..., instance_offering_uuid: _Optional[str] = ..., root_volume_uuid: _Optional[str] = ..., platform: _Optional[str] = ..., architecture: _Optional[str] = ..., default_l3_network_uuid: _Optional[str] = ..., type: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., memory_size: _Optional[int] = ..., cpu_num: _Optional[int] = ..., cpu_speed: _Optional[int] = ..., allocator_strategy: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[str] = ..., guest_os_type: _Optional[str] = ..., vm_nics: _Optional[_Iterable[_Union[VmNicInventory, _Mapping]]] = ..., all_volumes: _Optional[_Iterable[_Union[VolumeInventory, _Mapping]]] = ..., vm_cd_roms: _Optional[_Iterable[_Union[VmCdRomInventory, _Mapping]]] = ..., primary_vm_instance_uuid: _Optional[str] = ..., secondary_vm_instance_uuid: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class FaultToleranceVmGroupInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "cluster_uuid", "image_uuid", "host_uuid", "last_host_uuid", "instance_offering_uuid", "root_volume_uuid", "platform", "architecture", "default_l3_network_uuid", "type", "hypervisor_type", "memory_size", "cpu_num", "cpu_speed", "allocator_strategy", "create_date", "last_op_date", "state", "guest_os_type", "vm_nics", "all_volumes", "vm_cd_roms", "primary_vm_instance_uuid", "secondary_vm_instance_uuid", "status", "status_reason")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_UUID_FIELD_NUMBER: _ClassVar[int]
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    LAST_HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_OFFERING_UUID_FIELD_NUMBER: _ClassVar[int]
    ROOT_VOLUME_UUID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    CPU_SPEED_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GUEST_OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    VM_NICS_FIELD_NUMBER: _ClassVar[int]
    ALL_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    VM_CD_ROMS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_VM_INSTANCE_UUID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    cluster_uuid: str
    image_uuid: str
    host_uuid: str
    last_host_uuid: str
    instance_offering_uuid: str
    root_volume_uuid: str
    platform: str
    architecture: str
    default_l3_network_uuid: str
    type: str
    hypervisor_type: str
    memory_size: int
    cpu_num: int
    cpu_speed: int
    allocator_strategy: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    state: str
    guest_os_type: str
    vm_nics: _containers.RepeatedCompositeFieldContainer[VmNicInventory]
    all_volumes: _containers.RepeatedCompositeFieldContainer[VolumeInventory]
    vm_cd_roms: _containers.RepeatedCompositeFieldContainer[VmCdRomInventory]
    primary_vm_instance_uuid: str
    secondary_vm_instance_uuid: str
    status: str
    status_reason: str
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., cluster_uuid: _Optional[str] = ..., image_uuid: _Optional[str] = ..., host_uuid: _Optional[str] = ..., last_host_uuid: _Optional[str] = ..., instance_offering_uuid: _Optional[str] = ..., root_volume_uuid: _Optional[str] = ..., platform: _Optional[str] = ..., architecture: _Optional[str] = ..., default_l3_network_uuid: _Optional[str] = ..., type: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., memory_size: _Optional[int] = ..., cpu_num: _Optional[int] = ..., cpu_speed: _Optional[int] = ..., allocator_strategy: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[str] = ..., guest_os_type: _Optional[str] = ..., vm_nics: _Optional[_Iterable[_Union[VmNicInventory, _Mapping]]] = ..., all_volumes: _Optional[_Iterable[_Union[VolumeInventory, _Mapping]]] = ..., vm_cd_roms: _Optional[_Iterable[_Union[VmCdRomInventory, _Mapping]]] = ..., primary_vm_instance_uuid: _Optional[str] = ..., secondary_vm_instance_uuid: _Optional[str] = ..., status: _Optional[str] = ..., status_reason: _Optional[str] = ...) -> None: ...

class AccountInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "type", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    type: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SessionInventory(_message.Message):
    __slots__ = ("uuid", "account_uuid", "user_uuid", "expired_date", "create_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_UUID_FIELD_NUMBER: _ClassVar[int]
    USER_UUID_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    account_uuid: str
    user_uuid: str
    expired_date: _timestamp_pb2.Timestamp
    create_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., account_uuid: _Optional[str] = ..., user_uuid: _Optional[str] = ..., expired_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ZoneInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "state", "type", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    state: str
    type: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., state: _Optional[str] = ..., type: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ClusterInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "state", "hypervisor_type", "type", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    state: str
    hypervisor_type: str
    type: str
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., state: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., type: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HostInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "cluster_uuid", "management_ip", "hypervisor_type", "state", "status", "cpu_num", "total_cpu_capacity", "available_cpu_capacity", "total_memory_capacity", "available_memory_capacity", "ft_network_address", "failure_domain", "max_ft_vms", "max_ft_vcpus", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_IP_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CPU_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CPU_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MEMORY_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_MEMORY_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FT_NETWORK_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FT_VMS_FIELD_NUMBER: _ClassVar[int]
    MAX_FT_VCPUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    cluster_uuid: str
    management_ip: str
    hypervisor_type: str
    state: str
    status: str
    cpu_num: int
    total_cpu_capacity: int
    available_cpu_capacity: int
    total_memory_capacity: int
    available_memory_capacity: int
    ft_network_address: str
    failure_domain: str
    max_ft_vms: int
    max_ft_vcpus: int
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., cluster_uuid: _Optional[str] = ..., management_ip: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., cpu_num: _Optional[int] = ..., total_cpu_capacity: _Optional[int] = ..., available_cpu_capacity: _Optional[int] = ..., total_memory_capacity: _Optional[int] = ..., available_memory_capacity: _Optional[int] = ..., ft_network_address: _Optional[str] = ..., failure_domain: _Optional[str] = ..., max_ft_vms: _Optional[int] = ..., max_ft_vcpus: _Optional[int] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LocalStorageHostRefInventory(_message.Message):
    __slots__ = ("host_uuid", "total_capacity", "available_capacity")
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    host_uuid: str
    total_capacity: int
    available_capacity: int
    def __init__(self, host_uuid: _Optional[str] = ..., total_capacity: _Optional[int] = ..., available_capacity: _Optional[int] = ...) -> None: ...

class PrimaryStorageInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "url", "type", "state", "status", "total_capacity", "available_capacity", "attached_cluster_uuids", "local_storage_host_refs", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_CLUSTER_UUIDS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_STORAGE_HOST_REFS_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    url: str
    type: str
    state: str
    status: str
    total_capacity: int
    available_capacity: int
    attached_cluster_uuids: _containers.RepeatedScalarFieldContainer[str]
    local_storage_host_refs: _containers.RepeatedCompositeFieldContainer[LocalStorageHostRefInventory]
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., url: _Optional[str] = ..., type: _Optional[str] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., total_capacity: _Optional[int] = ..., available_capacity: _Optional[int] = ..., attached_cluster_uuids: _Optional[_Iterable[str]] = ..., local_storage_host_refs: _Optional[_Iterable[_Union[LocalStorageHostRefInventory, _Mapping]]] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class L2NetworkInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "physical_interface", "type", "attached_cluster_uuids", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_CLUSTER_UUIDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    physical_interface: str
    type: str
    attached_cluster_uuids: _containers.RepeatedScalarFieldContainer[str]
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., physical_interface: _Optional[str] = ..., type: _Optional[str] = ..., attached_cluster_uuids: _Optional[_Iterable[str]] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IpRangeInventory(_message.Message):
    __slots__ = ("uuid", "l3_network_uuid", "name", "description", "start_ip", "end_ip", "netmask", "gateway", "ip_version", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    L3_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    START_IP_FIELD_NUMBER: _ClassVar[int]
    END_IP_FIELD_NUMBER: _ClassVar[int]
    NETMASK_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    l3_network_uuid: str
    name: str
    description: str
    start_ip: str
    end_ip: str
    netmask: str
    gateway: str
    ip_version: int
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., l3_network_uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., start_ip: _Optional[str] = ..., end_ip: _Optional[str] = ..., netmask: _Optional[str] = ..., gateway: _Optional[str] = ..., ip_version: _Optional[int] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class L3NetworkInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "zone_uuid", "l2_network_uuid", "type", "state", "system", "category", "ip_allocation_strategy", "ip_ranges", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ZONE_UUID_FIELD_NUMBER: _ClassVar[int]
    L2_NETWORK_UUID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    IP_ALLOCATION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    IP_RANGES_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    zone_uuid: str
    l2_network_uuid: str
    type: str
    state: str
    system: bool
    category: str
    ip_allocation_strategy: str
    ip_ranges: _containers.RepeatedCompositeFieldContainer[IpRangeInventory]
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., zone_uuid: _Optional[str] = ..., l2_network_uuid: _Optional[str] = ..., type: _Optional[str] = ..., state: _Optional[str] = ..., system: _Optional[bool] = ..., category: _Optional[str] = ..., ip_allocation_strategy: _Optional[str] = ..., ip_ranges: _Optional[_Iterable[_Union[IpRangeInventory, _Mapping]]] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImageInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "state", "status", "size", "actual_size", "url", "media_type", "guest_os_type", "platform", "architecture", "format", "system", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    GUEST_OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    state: str
    status: str
    size: int
    actual_size: int
    url: str
    media_type: str
    guest_os_type: str
    platform: str
    architecture: str
    format: str
    system: bool
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., size: _Optional[int] = ..., actual_size: _Optional[int] = ..., url: _Optional[str] = ..., media_type: _Optional[str] = ..., guest_os_type: _Optional[str] = ..., platform: _Optional[str] = ..., architecture: _Optional[str] = ..., format: _Optional[str] = ..., system: _Optional[bool] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InstanceOfferingInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "cpu_num", "cpu_speed", "memory_size", "type", "allocator_strategy", "state", "sort_key", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CPU_NUM_FIELD_NUMBER: _ClassVar[int]
    CPU_SPEED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SORT_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    cpu_num: int
    cpu_speed: int
    memory_size: int
    type: str
    allocator_strategy: str
    state: str
    sort_key: int
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., cpu_num: _Optional[int] = ..., cpu_speed: _Optional[int] = ..., memory_size: _Optional[int] = ..., type: _Optional[str] = ..., allocator_strategy: _Optional[str] = ..., state: _Optional[str] = ..., sort_key: _Optional[int] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DiskOfferingInventory(_message.Message):
    __slots__ = ("uuid", "name", "description", "disk_size", "type", "state", "allocator_strategy", "sort_key", "create_date", "last_op_date")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISK_SIZE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATOR_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SORT_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_DATE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    description: str
    disk_size: int
    type: str
    state: str
    allocator_strategy: str
    sort_key: int
    create_date: _timestamp_pb2.Timestamp
    last_op_date: _timestamp_pb2.Timestamp
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., disk_size: _Optional[int] = ..., type: _Optional[str] = ..., state: _Optional[str] = ..., allocator_strategy: _Optional[str] = ..., sort_key: _Optional[int] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_op_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ManagementNodeInventory(_message.Message):
    __slots__ = ("uuid", "host_name", "join_date", "heart_beat", "ordinal", "grpc_address", "feed_seq", "applied_entries", "feed_lag_p50_ms", "feed_lag_p99_ms", "stale_retries", "reloads")
    UUID_FIELD_NUMBER: _ClassVar[int]
    HOST_NAME_FIELD_NUMBER: _ClassVar[int]
    JOIN_DATE_FIELD_NUMBER: _ClassVar[int]
    HEART_BEAT_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    GRPC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FEED_SEQ_FIELD_NUMBER: _ClassVar[int]
    APPLIED_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FEED_LAG_P50_MS_FIELD_NUMBER: _ClassVar[int]
    FEED_LAG_P99_MS_FIELD_NUMBER: _ClassVar[int]
    STALE_RETRIES_FIELD_NUMBER: _ClassVar[int]
    RELOADS_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    host_name: str
    join_date: _timestamp_pb2.Timestamp
    heart_beat: _timestamp_pb2.Timestamp
    ordinal: int
    grpc_address: str
    feed_seq: int
    applied_entries: int
    feed_lag_p50_ms: float
    feed_lag_p99_ms: float
    stale_retries: int
    reloads: int
    def __init__(self, uuid: _Optional[str] = ..., host_name: _Optional[str] = ..., join_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heart_beat: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ordinal: _Optional[int] = ..., grpc_address: _Optional[str] = ..., feed_seq: _Optional[int] = ..., applied_entries: _Optional[int] = ..., feed_lag_p50_ms: _Optional[float] = ..., feed_lag_p99_ms: _Optional[float] = ..., stale_retries: _Optional[int] = ..., reloads: _Optional[int] = ...) -> None: ...

class GlobalConfigInventory(_message.Message):
    __slots__ = ("category", "name", "description", "default_value", "value")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    category: str
    name: str
    description: str
    default_value: str
    value: str
    def __init__(self, category: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., default_value: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
