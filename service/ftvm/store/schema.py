"""Versioned schema. Column names equal the proto field names (snake_case), so a row maps onto its inventory.

Migrations are applied in order, in one transaction, and `schema_version` records the last one. Never edit a
released migration: append a new one. Both backends (SQLite, PostgreSQL) run the same versions to the same schema:
the SQL is plain SQL-92 plus `INSERT ... ON CONFLICT`, which both speak, and where they differ (triggers, SQLite's
WITHOUT ROWID, PostgreSQL's SUM over BIGINT being NUMERIC) a `Dialects` part holds both texts side by side. Dates
are BIGINT milliseconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialects:
    """A migration part whose SQL differs between the backends."""

    sqlite: str
    postgresql: str


_V1 = """
CREATE TABLE accounts (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL, password_hash TEXT NOT NULL,
  create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE sessions (
  uuid TEXT PRIMARY KEY, account_uuid TEXT NOT NULL REFERENCES accounts(uuid), user_uuid TEXT,
  create_date BIGINT NOT NULL, last_active BIGINT NOT NULL, expired_date BIGINT NOT NULL);
CREATE TABLE zones (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, state TEXT NOT NULL, type TEXT,
  create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE clusters (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, zone_uuid TEXT NOT NULL REFERENCES zones(uuid),
  state TEXT NOT NULL, hypervisor_type TEXT NOT NULL, type TEXT, create_date BIGINT NOT NULL,
  last_op_date BIGINT NOT NULL);
CREATE TABLE hosts (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, zone_uuid TEXT NOT NULL REFERENCES zones(uuid),
  cluster_uuid TEXT NOT NULL REFERENCES clusters(uuid), management_ip TEXT NOT NULL UNIQUE,
  hypervisor_type TEXT NOT NULL, state TEXT NOT NULL, status TEXT NOT NULL, cpu_num INTEGER NOT NULL,
  total_memory_capacity BIGINT NOT NULL, ft_network_address TEXT, failure_domain TEXT,
  max_ft_vms INTEGER NOT NULL DEFAULT 0, max_ft_vcpus INTEGER NOT NULL DEFAULT 0,
  local_storage_capacity BIGINT NOT NULL DEFAULT 0, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE INDEX hosts_cluster ON hosts(cluster_uuid);
CREATE TABLE primary_storages (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, zone_uuid TEXT NOT NULL REFERENCES zones(uuid),
  url TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL, status TEXT NOT NULL,
  total_capacity BIGINT NOT NULL DEFAULT 0, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE ps_cluster_refs (
  primary_storage_uuid TEXT NOT NULL REFERENCES primary_storages(uuid),
  cluster_uuid TEXT NOT NULL REFERENCES clusters(uuid), PRIMARY KEY (primary_storage_uuid, cluster_uuid));
CREATE TABLE l2_networks (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, zone_uuid TEXT NOT NULL REFERENCES zones(uuid),
  physical_interface TEXT NOT NULL, type TEXT NOT NULL, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE l2_cluster_refs (
  l2_network_uuid TEXT NOT NULL REFERENCES l2_networks(uuid), cluster_uuid TEXT NOT NULL REFERENCES clusters(uuid),
  PRIMARY KEY (l2_network_uuid, cluster_uuid));
CREATE TABLE l3_networks (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, zone_uuid TEXT NOT NULL REFERENCES zones(uuid),
  l2_network_uuid TEXT NOT NULL REFERENCES l2_networks(uuid), type TEXT NOT NULL, state TEXT NOT NULL,
  system BOOLEAN NOT NULL DEFAULT FALSE, category TEXT NOT NULL, ip_allocation_strategy TEXT NOT NULL,
  create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE ip_ranges (
  uuid TEXT PRIMARY KEY, l3_network_uuid TEXT NOT NULL REFERENCES l3_networks(uuid), name TEXT NOT NULL,
  description TEXT, start_ip TEXT NOT NULL, end_ip TEXT NOT NULL, netmask TEXT NOT NULL, gateway TEXT NOT NULL,
  ip_version INTEGER NOT NULL, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE INDEX ip_ranges_l3 ON ip_ranges(l3_network_uuid);
CREATE TABLE images (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, state TEXT NOT NULL, status TEXT NOT NULL,
  size BIGINT NOT NULL, actual_size BIGINT NOT NULL, url TEXT NOT NULL, media_type TEXT NOT NULL,
  guest_os_type TEXT, platform TEXT NOT NULL, architecture TEXT NOT NULL, format TEXT NOT NULL,
  system BOOLEAN NOT NULL DEFAULT FALSE, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE instance_offerings (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, cpu_num INTEGER NOT NULL, cpu_speed BIGINT NOT NULL,
  memory_size BIGINT NOT NULL, type TEXT NOT NULL, allocator_strategy TEXT NOT NULL, state TEXT NOT NULL,
  sort_key INTEGER NOT NULL DEFAULT 0, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE disk_offerings (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, disk_size BIGINT NOT NULL, type TEXT NOT NULL,
  state TEXT NOT NULL, allocator_strategy TEXT, sort_key INTEGER NOT NULL DEFAULT 0,
  create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE TABLE global_configs (
  category TEXT NOT NULL, name TEXT NOT NULL, description TEXT, default_value TEXT, value TEXT,
  PRIMARY KEY (category, name));
CREATE TABLE ft_groups (
  uuid TEXT PRIMARY KEY, account_uuid TEXT NOT NULL REFERENCES accounts(uuid), name TEXT NOT NULL,
  description TEXT, primary_vm_instance_uuid TEXT NOT NULL UNIQUE, secondary_vm_instance_uuid TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL, strategy TEXT NOT NULL, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL);
CREATE INDEX ft_groups_account ON ft_groups(account_uuid);
-- allocated_memory is memory_size divided by the memory over-provisioning ratio at allocation time (rounded up):
-- what the VM takes from its host. Host usage is summed from these rows.
CREATE TABLE vm_instances (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, zone_uuid TEXT, cluster_uuid TEXT,
  image_uuid TEXT NOT NULL, host_uuid TEXT REFERENCES hosts(uuid), last_host_uuid TEXT, instance_offering_uuid TEXT,
  root_volume_uuid TEXT, platform TEXT, architecture TEXT, default_l3_network_uuid TEXT, type TEXT NOT NULL,
  hypervisor_type TEXT, memory_size BIGINT NOT NULL, cpu_num INTEGER NOT NULL, cpu_speed BIGINT,
  allocator_strategy TEXT, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL, state TEXT NOT NULL,
  guest_os_type TEXT,
  role TEXT NOT NULL, group_uuid TEXT NOT NULL, account_uuid TEXT NOT NULL REFERENCES accounts(uuid),
  internal_id INTEGER NOT NULL UNIQUE, reserved_memory_size BIGINT NOT NULL DEFAULT 0,
  allocated_memory BIGINT NOT NULL DEFAULT 0);
CREATE INDEX vm_instances_host ON vm_instances(host_uuid);
CREATE INDEX vm_instances_group ON vm_instances(group_uuid);
CREATE INDEX vm_instances_account ON vm_instances(account_uuid);
CREATE TABLE vm_nics (
  uuid TEXT PRIMARY KEY, vm_instance_uuid TEXT NOT NULL REFERENCES vm_instances(uuid), l3_network_uuid TEXT NOT NULL,
  ip TEXT, mac TEXT NOT NULL, hypervisor_type TEXT, netmask TEXT, gateway TEXT, meta_data TEXT, ip_version INTEGER,
  driver_type TEXT, internal_name TEXT, device_id INTEGER NOT NULL, type TEXT, state TEXT,
  create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL, group_uuid TEXT NOT NULL,
  UNIQUE (vm_instance_uuid, device_id));
CREATE INDEX vm_nics_group ON vm_nics(group_uuid);
-- The secondary reuses the primary's address and MAC (COLO compares their packets): one used_ips row and one
-- mac_allocations row per pair NIC. These two tables hold the uniqueness, not vm_nics.
CREATE TABLE used_ips (
  uuid TEXT PRIMARY KEY, ip_range_uuid TEXT NOT NULL REFERENCES ip_ranges(uuid), l3_network_uuid TEXT NOT NULL,
  ip_version INTEGER NOT NULL, ip TEXT NOT NULL, netmask TEXT, gateway TEXT, used_for TEXT,
  ip_in_long BIGINT NOT NULL, vm_nic_uuid TEXT NOT NULL, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL,
  group_uuid TEXT NOT NULL, UNIQUE (l3_network_uuid, ip_in_long));
CREATE INDEX used_ips_group ON used_ips(group_uuid);
CREATE TABLE mac_allocations (mac TEXT PRIMARY KEY, group_uuid TEXT NOT NULL);
CREATE INDEX mac_allocations_group ON mac_allocations(group_uuid);
-- allocated_size is what the volume takes from its storage (size / storage over-provisioning ratio, rounded up);
-- host_uuid is set for volumes on local storage (the host whose disk holds it).
CREATE TABLE volumes (
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, primary_storage_uuid TEXT,
  vm_instance_uuid TEXT REFERENCES vm_instances(uuid), disk_offering_uuid TEXT, root_image_uuid TEXT,
  install_path TEXT, type TEXT NOT NULL, format TEXT, size BIGINT NOT NULL, actual_size BIGINT, device_id INTEGER,
  state TEXT, status TEXT, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL, is_shareable BOOLEAN,
  volume_qos TEXT, last_detach_date BIGINT, last_vm_instance_uuid TEXT,
  group_uuid TEXT NOT NULL, host_uuid TEXT, allocated_size BIGINT NOT NULL DEFAULT 0);
CREATE INDEX volumes_vm ON volumes(vm_instance_uuid);
CREATE INDEX volumes_storage ON volumes(primary_storage_uuid);
CREATE INDEX volumes_group ON volumes(group_uuid);
CREATE TABLE vm_cdroms (
  uuid TEXT PRIMARY KEY, vm_instance_uuid TEXT NOT NULL REFERENCES vm_instances(uuid), device_id INTEGER NOT NULL,
  iso_uuid TEXT, iso_install_path TEXT, name TEXT, description TEXT, create_date BIGINT NOT NULL,
  last_op_date BIGINT NOT NULL, group_uuid TEXT NOT NULL);
CREATE INDEX vm_cdroms_group ON vm_cdroms(group_uuid);
CREATE TABLE colo_ports (
  host_uuid TEXT NOT NULL, port INTEGER NOT NULL, group_uuid TEXT NOT NULL, purpose TEXT NOT NULL,
  PRIMARY KEY (host_uuid, port));
CREATE INDEX colo_ports_group ON colo_ports(group_uuid);
CREATE TABLE tags (
  uuid TEXT PRIMARY KEY, resource_uuid TEXT NOT NULL, resource_type TEXT NOT NULL, tag TEXT NOT NULL,
  type TEXT NOT NULL, group_uuid TEXT, create_date BIGINT NOT NULL);
CREATE INDEX tags_resource ON tags(resource_uuid);
CREATE INDEX tags_group ON tags(group_uuid);
"""

# Views the queries read: inventories with their derived fields (usage, attachments) computed from rows.
_V1_VIEWS = """
CREATE VIEW host_inventory AS
SELECT h.*, COALESCE(u.cpu_used, 0) AS cpu_used, COALESCE(u.memory_used, 0) AS memory_used,
       COALESCE(u.vm_count, 0) AS vm_count
FROM hosts h LEFT JOIN (
  SELECT host_uuid, SUM(cpu_num) AS cpu_used, SUM(allocated_memory) AS memory_used, COUNT(*) AS vm_count
  FROM vm_instances WHERE host_uuid IS NOT NULL GROUP BY host_uuid) u ON u.host_uuid = h.uuid;
CREATE VIEW primary_storage_inventory AS
SELECT p.*, COALESCE(u.used, 0) AS used_capacity
FROM primary_storages p LEFT JOIN (
  SELECT primary_storage_uuid, SUM(allocated_size) AS used FROM volumes GROUP BY primary_storage_uuid) u
  ON u.primary_storage_uuid = p.uuid;
CREATE VIEW ft_group_inventory AS
SELECT g.uuid, g.name, g.description, v.zone_uuid, v.cluster_uuid, v.image_uuid, v.host_uuid, v.last_host_uuid,
       v.instance_offering_uuid, v.root_volume_uuid, v.platform, v.architecture, v.default_l3_network_uuid,
       'FaultToleranceVmGroup' AS type, v.hypervisor_type, v.memory_size, v.cpu_num, v.cpu_speed,
       v.allocator_strategy, g.create_date, g.last_op_date, v.state, v.guest_os_type,
       g.primary_vm_instance_uuid, g.secondary_vm_instance_uuid, g.status, g.account_uuid, g.strategy
FROM ft_groups g JOIN vm_instances v ON v.uuid = g.primary_vm_instance_uuid;
"""

# Host and storage usage kept as counters by triggers on vm_instances and volumes: the create's commit-time
# re-check reads one row per host and storage instead of summing rows (which grow with the deployment). In
# PostgreSQL the upsert row-locks the counter, so a concurrent replica's re-check reads it with both updates; and
# the first usage change of a transaction takes one advisory lock (key 'ftvmusag', held to the end of the
# transaction), so transactions that change usage never deadlock on counter rows they lock in different orders
# (a create locks its hosts then its storages, a destroy the other way round).
_V2_TABLES = Dialects(
    sqlite="""
CREATE TABLE host_usage (
  host_uuid TEXT PRIMARY KEY, cpu_used BIGINT NOT NULL, memory_used BIGINT NOT NULL, vm_count INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE storage_usage (
  primary_storage_uuid TEXT NOT NULL, host_uuid TEXT NOT NULL DEFAULT '', used BIGINT NOT NULL,
  PRIMARY KEY (primary_storage_uuid, host_uuid)) WITHOUT ROWID;
""",
    postgresql="""
CREATE TABLE host_usage (
  host_uuid TEXT PRIMARY KEY, cpu_used BIGINT NOT NULL, memory_used BIGINT NOT NULL, vm_count INTEGER NOT NULL);
CREATE TABLE storage_usage (
  primary_storage_uuid TEXT NOT NULL, host_uuid TEXT NOT NULL DEFAULT '', used BIGINT NOT NULL,
  PRIMARY KEY (primary_storage_uuid, host_uuid));
""",
)
_V2_BACKFILL = """
INSERT INTO host_usage (host_uuid, cpu_used, memory_used, vm_count)
  SELECT host_uuid, SUM(cpu_num), SUM(allocated_memory), COUNT(*) FROM vm_instances
  WHERE host_uuid IS NOT NULL GROUP BY host_uuid;
INSERT INTO storage_usage (primary_storage_uuid, host_uuid, used)
  SELECT primary_storage_uuid, COALESCE(host_uuid, ''), SUM(allocated_size) FROM volumes
  WHERE primary_storage_uuid IS NOT NULL GROUP BY primary_storage_uuid, COALESCE(host_uuid, '');
"""
_V2_TRIGGERS = Dialects(
    sqlite="""
CREATE TRIGGER vm_instances_usage_insert AFTER INSERT ON vm_instances WHEN NEW.host_uuid IS NOT NULL
BEGIN
  INSERT INTO host_usage (host_uuid, cpu_used, memory_used, vm_count)
    VALUES (NEW.host_uuid, NEW.cpu_num, NEW.allocated_memory, 1)
    ON CONFLICT (host_uuid) DO UPDATE SET cpu_used = cpu_used + excluded.cpu_used,
      memory_used = memory_used + excluded.memory_used, vm_count = vm_count + 1;
END;
CREATE TRIGGER vm_instances_usage_delete AFTER DELETE ON vm_instances WHEN OLD.host_uuid IS NOT NULL
BEGIN
  UPDATE host_usage SET cpu_used = cpu_used - OLD.cpu_num, memory_used = memory_used - OLD.allocated_memory,
    vm_count = vm_count - 1 WHERE host_uuid = OLD.host_uuid;
END;
CREATE TRIGGER volumes_usage_insert AFTER INSERT ON volumes
  WHEN NEW.primary_storage_uuid IS NOT NULL AND NEW.allocated_size > 0
BEGIN
  INSERT INTO storage_usage (primary_storage_uuid, host_uuid, used)
    VALUES (NEW.primary_storage_uuid, COALESCE(NEW.host_uuid, ''), NEW.allocated_size)
    ON CONFLICT (primary_storage_uuid, host_uuid) DO UPDATE SET used = used + excluded.used;
END;
CREATE TRIGGER volumes_usage_delete AFTER DELETE ON volumes
  WHEN OLD.primary_storage_uuid IS NOT NULL AND OLD.allocated_size > 0
BEGIN
  UPDATE storage_usage SET used = used - OLD.allocated_size
    WHERE primary_storage_uuid = OLD.primary_storage_uuid AND host_uuid = COALESCE(OLD.host_uuid, '');
END;
""",
    postgresql="""
CREATE FUNCTION vm_instances_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(x'6674766d75736167'::bigint);
  INSERT INTO host_usage AS u (host_uuid, cpu_used, memory_used, vm_count)
    VALUES (NEW.host_uuid, NEW.cpu_num, NEW.allocated_memory, 1)
    ON CONFLICT (host_uuid) DO UPDATE SET cpu_used = u.cpu_used + excluded.cpu_used,
      memory_used = u.memory_used + excluded.memory_used, vm_count = u.vm_count + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER vm_instances_usage_insert AFTER INSERT ON vm_instances FOR EACH ROW
  WHEN (NEW.host_uuid IS NOT NULL) EXECUTE FUNCTION vm_instances_usage_insert();
CREATE FUNCTION vm_instances_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(x'6674766d75736167'::bigint);
  UPDATE host_usage SET cpu_used = cpu_used - OLD.cpu_num, memory_used = memory_used - OLD.allocated_memory,
    vm_count = vm_count - 1 WHERE host_uuid = OLD.host_uuid;
  RETURN NULL;
END $$;
CREATE TRIGGER vm_instances_usage_delete AFTER DELETE ON vm_instances FOR EACH ROW
  WHEN (OLD.host_uuid IS NOT NULL) EXECUTE FUNCTION vm_instances_usage_delete();
CREATE FUNCTION volumes_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(x'6674766d75736167'::bigint);
  INSERT INTO storage_usage AS u (primary_storage_uuid, host_uuid, used)
    VALUES (NEW.primary_storage_uuid, COALESCE(NEW.host_uuid, ''), NEW.allocated_size)
    ON CONFLICT (primary_storage_uuid, host_uuid) DO UPDATE SET used = u.used + excluded.used;
  RETURN NULL;
END $$;
CREATE TRIGGER volumes_usage_insert AFTER INSERT ON volumes FOR EACH ROW
  WHEN (NEW.primary_storage_uuid IS NOT NULL AND NEW.allocated_size > 0) EXECUTE FUNCTION volumes_usage_insert();
CREATE FUNCTION volumes_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(x'6674766d75736167'::bigint);
  UPDATE storage_usage SET used = used - OLD.allocated_size
    WHERE primary_storage_uuid = OLD.primary_storage_uuid AND host_uuid = COALESCE(OLD.host_uuid, '');
  RETURN NULL;
END $$;
CREATE TRIGGER volumes_usage_delete AFTER DELETE ON volumes FOR EACH ROW
  WHEN (OLD.primary_storage_uuid IS NOT NULL AND OLD.allocated_size > 0) EXECUTE FUNCTION volumes_usage_delete();
""",
)
_V2_VIEWS = """
DROP INDEX volumes_storage;
DROP VIEW host_inventory;
CREATE VIEW host_inventory AS
SELECT h.*, COALESCE(u.cpu_used, 0) AS cpu_used, COALESCE(u.memory_used, 0) AS memory_used,
       COALESCE(u.vm_count, 0) AS vm_count
FROM hosts h LEFT JOIN host_usage u ON u.host_uuid = h.uuid;
DROP VIEW primary_storage_inventory;
"""
_V2_STORAGE_VIEW = Dialects(
    sqlite="""
CREATE VIEW primary_storage_inventory AS
SELECT p.*, COALESCE(u.used, 0) AS used_capacity
FROM primary_storages p LEFT JOIN (
  SELECT primary_storage_uuid, SUM(used) AS used FROM storage_usage GROUP BY primary_storage_uuid) u
  ON u.primary_storage_uuid = p.uuid;
""",
    postgresql="""
CREATE VIEW primary_storage_inventory AS
SELECT p.*, COALESCE(u.used, 0) AS used_capacity
FROM primary_storages p LEFT JOIN (
  SELECT primary_storage_uuid, CAST(SUM(used) AS BIGINT) AS used FROM storage_usage GROUP BY primary_storage_uuid) u
  ON u.primary_storage_uuid = p.uuid;
""",
)


# Accounts carry a description (CreateAccount).
_V3 = """
ALTER TABLE accounts ADD COLUMN description TEXT;
"""


# Volumes with their owner, so a normal account's volume query filters in SQL (not with a list of its groups).
_V4 = """
CREATE VIEW volume_inventory AS
SELECT v.*, g.account_uuid FROM volumes v JOIN ft_groups g ON g.uuid = v.group_uuid;
"""


# What replicas share beyond the rows. `change_feed`: one entry per group commit that changed something the
# replicas hold in memory, numbered by `feed_head` (incremented in the same transaction, whose row lock makes the
# numbers gapless and in commit order). `counters`: blocks of VM internal ids, so replicas never hand out the same
# id. `replicas`: the ordinal each running replica leases (ports are striped by it). `create_requests`: what a
# create with a resourceUuid or an idempotency key asked for, so that a retry gets the original reply.
_V5 = """
CREATE TABLE change_feed (
  seq BIGINT PRIMARY KEY, origin TEXT NOT NULL, create_date BIGINT NOT NULL, changes TEXT NOT NULL);
CREATE TABLE feed_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
INSERT INTO feed_head (id, seq) VALUES (1, 0);
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) SELECT 'vm_internal_id', COALESCE(MAX(internal_id), 0) FROM vm_instances;
CREATE TABLE replicas (
  ordinal INTEGER PRIMARY KEY, replica_id TEXT NOT NULL UNIQUE, grpc_address TEXT, started BIGINT NOT NULL,
  heartbeat BIGINT NOT NULL);
CREATE TABLE create_requests (
  group_uuid TEXT PRIMARY KEY, account_uuid TEXT NOT NULL, idempotency_key TEXT, fingerprint TEXT NOT NULL,
  create_date BIGINT NOT NULL);
CREATE INDEX create_requests_date ON create_requests(create_date);
"""


# QueryManagementNode: each replica publishes its host name and its figures (JSON) with its heartbeat.
_V6 = """
ALTER TABLE replicas ADD COLUMN host_name TEXT;
ALTER TABLE replicas ADD COLUMN stats TEXT;
CREATE VIEW management_node_inventory AS
SELECT replica_id AS uuid, host_name, started AS join_date, heartbeat AS heart_beat, ordinal, grpc_address, stats
FROM replicas;
"""


# The FT group's life after the create (domain/recovery.py). `leases`: work one replica at a time does (watching
# hosts, recovery, reconciling the agents). `ft_events`: what recovery did, per group and host. A group between
# losing its secondary and getting a new one has none (`secondary_vm_instance_uuid` NULL), and says why it is not
# Protected in `status_reason` (JSON). A replica records its process id, so that a restart on the same machine knows
# its killed predecessor is dead at once.
_V7_COMMON = """
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires BIGINT NOT NULL);
CREATE TABLE ft_events (
  uuid TEXT PRIMARY KEY, create_date BIGINT NOT NULL, kind TEXT NOT NULL, group_uuid TEXT, vm_instance_uuid TEXT,
  host_uuid TEXT, details TEXT);
CREATE INDEX ft_events_group ON ft_events(group_uuid);
CREATE INDEX ft_events_date ON ft_events(create_date);
ALTER TABLE replicas ADD COLUMN pid INTEGER;
DROP VIEW ft_group_inventory;
DROP VIEW volume_inventory;
"""
_V7_GROUPS = Dialects(
    sqlite="""
CREATE TABLE ft_groups_v7 (
  uuid TEXT PRIMARY KEY, account_uuid TEXT NOT NULL REFERENCES accounts(uuid), name TEXT NOT NULL,
  description TEXT, primary_vm_instance_uuid TEXT NOT NULL UNIQUE, secondary_vm_instance_uuid TEXT UNIQUE,
  status TEXT NOT NULL, strategy TEXT NOT NULL, create_date BIGINT NOT NULL, last_op_date BIGINT NOT NULL,
  status_reason TEXT);
INSERT INTO ft_groups_v7 (uuid, account_uuid, name, description, primary_vm_instance_uuid,
  secondary_vm_instance_uuid, status, strategy, create_date, last_op_date)
  SELECT uuid, account_uuid, name, description, primary_vm_instance_uuid, secondary_vm_instance_uuid, status,
  strategy, create_date, last_op_date FROM ft_groups;
DROP TABLE ft_groups;
ALTER TABLE ft_groups_v7 RENAME TO ft_groups;
CREATE INDEX ft_groups_account ON ft_groups(account_uuid);
CREATE INDEX ft_groups_status ON ft_groups(status);
""",
    postgresql="""
ALTER TABLE ft_groups ALTER COLUMN secondary_vm_instance_uuid DROP NOT NULL;
ALTER TABLE ft_groups ADD COLUMN status_reason TEXT;
CREATE INDEX ft_groups_status ON ft_groups(status);
""",
)
_V7_VIEWS = """
CREATE VIEW ft_group_inventory AS
SELECT g.uuid, g.name, g.description, v.zone_uuid, v.cluster_uuid, v.image_uuid, v.host_uuid, v.last_host_uuid,
       v.instance_offering_uuid, v.root_volume_uuid, v.platform, v.architecture, v.default_l3_network_uuid,
       'FaultToleranceVmGroup' AS type, v.hypervisor_type, v.memory_size, v.cpu_num, v.cpu_speed,
       v.allocator_strategy, g.create_date, g.last_op_date, v.state, v.guest_os_type,
       g.primary_vm_instance_uuid, g.secondary_vm_instance_uuid, g.status, g.account_uuid, g.strategy,
       g.status_reason
FROM ft_groups g JOIN vm_instances v ON v.uuid = g.primary_vm_instance_uuid;
CREATE VIEW volume_inventory AS
SELECT v.*, g.account_uuid FROM volumes v JOIN ft_groups g ON g.uuid = v.group_uuid;
"""


def statements(script: str) -> list[str]:
    """Splits a migration into statements; a body (a SQLite trigger's BEGIN ... END;, a PostgreSQL function's
    $$ ... $$) stays in its statement."""
    out, current, in_trigger, in_function = [], [], False, False
    for line in script.strip().splitlines():
        if line.startswith("--"):
            continue
        current.append(line)
        stripped = line.strip()
        if line.count("$$") % 2:
            in_function = not in_function
        elif stripped == "BEGIN" and not in_function:
            in_trigger = True
        if stripped.endswith(";") and not in_function and (not in_trigger or stripped == "END;"):
            out.append("\n".join(current))
            current, in_trigger = [], False
    return out


_MIGRATIONS: list[list[str | Dialects]] = [
    [_V1, _V1_VIEWS],
    [_V2_TABLES, _V2_BACKFILL, _V2_TRIGGERS, _V2_VIEWS, _V2_STORAGE_VIEW],
    [_V3],
    [_V4],
    [_V5],
    [_V6],
    [_V7_COMMON, _V7_GROUPS, _V7_VIEWS],
]
SCHEMA_VERSION = len(_MIGRATIONS)


def migrations(dialect: str) -> list[list[str]]:
    """Each version's statements in `dialect` ("sqlite" or "postgresql"), version 1 first."""
    return [
        [
            statement
            for part in parts
            for statement in statements(part if isinstance(part, str) else getattr(part, dialect))
        ]
        for parts in _MIGRATIONS
    ]
