"""The lab director VM: a real IPVS kernel under QEMU, driven over pinned-key SSH.

These boot the VM (tests/lab_fixtures.py) and prove what other tests rely on: ipvsadm
changes the guest's kernel table, SSH refuses a host key that is not the pinned one, and
traffic from the client namespace through a VIP reaches the real servers the table names.
"""

from __future__ import annotations

import socket

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab import topology
from lab.vm import LabVM, _parse_bodies
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401, F811

RS1 = topology.REAL_SERVERS["rs1"]
RS2 = topology.REAL_SERVERS["rs2"]
VIP = topology.VIP_POOL_V4[0]
VIP6 = topology.VIP_POOL_V6[0]


def _two_server_service(vip: str, forwarding: str, port: int = topology.HTTP_PORT) -> str:
    """ipvsadm -R input: vip:port under rr, balanced over rs1 and rs2 with forwarding."""
    if ":" in vip:
        service = f"[{vip}]:{port}"
        servers = [f"[{RS1.ipv6}]:{port}", f"[{RS2.ipv6}]:{port}"]
    else:
        service = f"{vip}:{port}"
        servers = [f"{RS1.ipv4}:{port}", f"{RS2.ipv4}:{port}"]
    lines = [f"-A -t {service} -s rr"]
    lines += [f"-a -t {service} -r {server} {forwarding} -w 1" for server in servers]
    return "\n".join(lines) + "\n"


def _assert_alternates(bodies: list[str | None]) -> None:
    assert set(bodies) == {"rs1", "rs2"}, bodies
    assert all(a != b for a, b in zip(bodies, bodies[1:])), f"rr should alternate: {bodies}"


def _other_host_key() -> str:
    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.mark.lab
def test_it_restores_a_table_through_stdin_and_saves_it_back(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP, "-m"))

    saved = clean_lab_vm.ipvsadm_save().splitlines()

    assert saved == [
        f"-A -t {VIP}:80 -s rr",
        f"-a -t {VIP}:80 -r {RS1.ipv4}:80 -m -w 1",
        f"-a -t {VIP}:80 -r {RS2.ipv4}:80 -m -w 1",
    ]


@pytest.mark.lab
def test_it_rejects_a_bad_ipvsadm_command_with_a_nonzero_exit(clean_lab_vm: LabVM) -> None:
    rc, _, err = clean_lab_vm.run(["ipvsadm", "-a", "-t", f"{VIP}:80", "-r", f"{RS1.ipv4}:80", "-m"])

    assert rc != 0
    assert "Service not defined" in err


@pytest.mark.lab
def test_it_refuses_a_guest_whose_host_key_is_not_the_pinned_one(lab_vm: LabVM) -> None:
    with pytest.raises(paramiko.BadHostKeyException):
        lab_vm.connect(host_key=_other_host_key())


@pytest.mark.lab
def test_it_refuses_a_guest_with_no_pinned_key(lab_vm: LabVM) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())

    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(lab_vm.ssh_host, port=lab_vm.ssh_port, username=lab_vm.ssh_user,
                       key_filename=str(lab_vm.key_path), allow_agent=False, look_for_keys=False)
    client.close()


@pytest.mark.lab
def test_it_pins_the_key_written_next_to_the_image(lab_vm: LabVM) -> None:
    client = lab_vm.connect()
    try:
        served = client.get_transport().get_remote_server_key()  # type: ignore[union-attr]
        assert f"{served.get_name()} {served.get_base64()}" == lab_vm.host_key
        assert lab_vm.host_key.startswith("ssh-ed25519 AAAA")
    finally:
        client.close()


@pytest.mark.lab
def test_it_runs_many_commands_on_one_connection(lab_vm: LabVM) -> None:
    client = lab_vm.connect()
    try:
        outputs = []
        for word in ("one", "two", "three"):
            _, stdout, _ = client.exec_command(f"echo {word}")
            outputs.append(stdout.read().decode().strip())
        assert outputs == ["one", "two", "three"]
    finally:
        client.close()


@pytest.mark.lab
def test_it_alternates_nat_requests_between_the_real_servers_under_rr(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP, "-m"))

    _assert_alternates(clean_lab_vm.http_from_client(VIP, 80, 6))


@pytest.mark.lab
def test_it_alternates_direct_routing_requests_between_the_real_servers(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP, "-g"))

    _assert_alternates(clean_lab_vm.http_from_client(VIP, 80, 4))


@pytest.mark.lab
def test_it_alternates_tunnelled_requests_between_the_real_servers(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP, "-i"))

    _assert_alternates(clean_lab_vm.http_from_client(VIP, 80, 4))


@pytest.mark.lab
def test_it_alternates_ipv6_nat_requests_between_the_real_servers(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP6, "-m"))

    _assert_alternates(clean_lab_vm.http_from_client(VIP6, 80, 4))


@pytest.mark.lab
def test_a_vip_without_a_service_refuses_the_client(clean_lab_vm: LabVM) -> None:
    assert clean_lab_vm.http_from_client(VIP, 80, 2) == [None, None]


@pytest.mark.lab
def test_a_stopped_real_server_does_not_answer(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP, "-m"))

    clean_lab_vm.rs_stop("rs1")

    assert clean_lab_vm.http_from_client(RS1.ipv4, 80, 1) == [None]
    assert set(clean_lab_vm.http_from_client(VIP, 80, 4)) == {"rs2", None}
    assert "rs1 stopped" in clean_lab_vm.run(["lab-rs", "status", "rs1"])[1]


@pytest.mark.lab
def test_a_restarted_real_server_answers_again(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.rs_stop("rs2")

    clean_lab_vm.rs_start("rs2")

    assert clean_lab_vm.http_from_client(RS2.ipv4, 80, 1) == ["rs2"]


@pytest.mark.lab
def test_a_weight_of_zero_sends_new_requests_to_the_other_server(clean_lab_vm: LabVM) -> None:
    clean_lab_vm.ipvsadm_restore(_two_server_service(VIP, "-m"))

    clean_lab_vm.ipvsadm_restore(f"-e -t {VIP}:80 -r {RS1.ipv4}:80 -m -w 0\n")

    assert clean_lab_vm.http_from_client(VIP, 80, 4) == ["rs2"] * 4


def test_it_parses_bodies_and_failures_in_request_order() -> None:
    out = "<<<ok\nrs1\n>>>\n<<<failed\n<<<ok\nline one\nline two\n>>>\n"

    assert _parse_bodies(out) == ["rs1", None, "line one\nline two"]


@pytest.mark.lab
def test_stop_kills_the_director_and_restart_brings_it_back(clean_lab_vm: LabVM) -> None:
    lab_vm = clean_lab_vm
    port = lab_vm.ssh_port
    lab_vm.ipvsadm_restore(_two_server_service(VIP, "-m"))

    lab_vm.stop()

    assert not lab_vm.is_running()
    with pytest.raises(OSError):
        socket.create_connection((lab_vm.ssh_host, port), timeout=2).close()

    lab_vm.restart()

    assert lab_vm.ssh_port == port
    assert lab_vm.ipvsadm_save() == ""  # a fresh kernel: the old table died with the VM
    assert lab_vm.http_from_client(RS1.ipv4, 80, 1) == ["rs1"]
