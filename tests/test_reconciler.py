"""The reconciler against a host agent that lives in its own process: the server is killed with SIGKILL at random
moments under load, 50 times, between starting a create's VMs and committing its rows, or anywhere else. After the
next start's sweep there is no orphan VM, no acknowledged create is lost, and capacity is exact again."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import grpc

from bench.service import AgentProcess
from ftvm._proto.zstack.ft.v1 import services_pb2 as pb
from replica_support import memory_of, memory_rebuilt_from_rows
from service_support import ADMIN_PASSWORD, inventory, log_in, start_server

KILLS = 50


def _serve(data_dir, inventory_file, agent_url: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftvm.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--grpc-port",
            "0",
            "--no-gateway",
            "--no-demo",
            "--inventory",
            str(inventory_file),
            "--agent-url",
            agent_url,
            "--agent-timeout",
            "2",
            "--agent-attempts",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FTVM_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    for line in proc.stdout:
        match = re.search(r"gRPC listening on (\S+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1)
    raise AssertionError(f"ftvm serve exited with {proc.wait()}")


def test_kill_the_server_at_random_moments_then_one_sweep_leaves_nothing_behind(tmp_path):
    import json

    spec = inventory(hosts_per_cluster=4, clusters=2, cpu=256, memory_gib=4097, ip_count=20000)
    inventory_file = tmp_path / "inventory.json"
    inventory_file.write_text(json.dumps(spec))
    rng = random.Random(7)
    acknowledged: set[str] = set()
    with AgentProcess(str(tmp_path / "agent-state.db")) as agent:
        for _ in range(KILLS):
            server, target = _serve(tmp_path / "data", inventory_file, agent.url)
            client = log_in(grpc.insecure_channel(target))
            image = client.query("QueryImage", "mediaType=RootVolumeTemplate")[0].uuid
            l3 = client.query("QueryL3Network")[0].uuid
            offering = client.query("QueryInstanceOffering", "name=small")[0].uuid
            stop = threading.Event()

            def load() -> None:
                while not stop.is_set():
                    calls = [
                        client.vm.CreateFaultToleranceVmInstance.future(
                            pb.CreateFaultToleranceVmInstanceRequest(
                                name="kill-loop",
                                image_uuid=image,
                                l3_network_uuids=[l3],
                                instance_offering_uuid=offering,
                            ),
                            metadata=client.metadata,
                            timeout=10,
                        )
                        for _ in range(4)
                    ]
                    for call in calls:
                        try:
                            acknowledged.add(call.result().fault_tolerance_vm_group_inventory.uuid)
                        except grpc.RpcError:
                            pass  # killed mid-call: not acknowledged

            loader = threading.Thread(target=load)
            loader.start()
            time.sleep(rng.uniform(0.05, 0.6))
            server.send_signal(signal.SIGKILL)
            server.wait()
            stop.set()
            loader.join()
            client.channel.close()
        assert len(acknowledged) > KILLS  # the load did create, between the kills
        # one more start: its sweep (before it serves) reconciles the agent with the rows
        with start_server(tmp_path, None, agent_url=agent.url) as server:
            running = server.running
            rows = running.store.read(lambda tx: tx.select("vm_instances"))
            groups = {g["uuid"] for g in running.store.read(lambda tx: tx.select("ft_groups"))}
            assert acknowledged <= groups  # no acknowledged create is lost

            async def on_agent() -> set[str]:
                found = set()
                for host in running.domain.catalog.hosts:
                    found |= {vm.uuid for vm in await running.agent.list_vms(host)}
                return found

            assert server.call(on_agent) == {v["uuid"] for v in rows}  # no orphan, none missing
            assert memory_of(running) == memory_rebuilt_from_rows(running)  # capacity exact

            def usage_from_rows(tx) -> tuple[dict, dict]:
                counters = tx.host_usage(list(running.domain.catalog.hosts))
                summed: dict[str, list[int]] = {}
                for vm in tx.select("vm_instances"):
                    s = summed.setdefault(vm["host_uuid"], [0, 0, 0])
                    s[0] += vm["cpu_num"]
                    s[1] += vm["allocated_memory"]
                    s[2] += 1
                return ({h: [u.cpu_used, u.memory_used, u.vm_count] for h, u in counters.items() if u.vm_count}, summed)

            counters, summed = running.store.read(usage_from_rows)
            assert counters == summed
            client = log_in(grpc.insecure_channel(server.target))
            # A fast machine may fill the inventory during the kills: one destroy makes room for one pair.
            client.vm.DestroyVmInstance(pb.DestroyVmInstanceRequest(uuid=min(groups)), metadata=client.metadata)
            assert client.create(
                name="after",
                image_uuid=client.query("QueryImage", "mediaType=RootVolumeTemplate")[0].uuid,
                l3_network_uuids=[client.query("QueryL3Network")[0].uuid],
                instance_offering_uuid=client.query("QueryInstanceOffering", "name=small")[0].uuid,
            ).success
