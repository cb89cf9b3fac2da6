"""The JSON backup: a faithful round trip, and any wrong part refuses the whole document."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtualservers.formats.backup import BackupError, from_json, to_json, to_text
from virtualservers.formats.config import Config
from virtualservers.formats.templates import exchange_2010_cas
from tests.test_formats_strategies import configs


def sample() -> dict:
    servers = exchange_2010_cas("EX", "192.0.2.50", "eth0:1", ["192.0.2.21", "192.0.2.22"])
    return to_json(Config(virtual_servers=servers))


def test_it_writes_a_versioned_document():
    doc = sample()
    assert (doc["format"], doc["version"]) == ("lbadmin-backup", 1)
    assert set(doc) == {"format", "version", "cluster", "redundancy", "virtual_servers"}
    first = doc["virtual_servers"][0]
    assert (first["name"], first["port"], first["persistent"]) == ("EX-443", 443, 14400)
    assert first["health_check"]["http_path"] == "/owa"
    assert first["real_servers"][0] == {
        "name": "CAS1", "address": "192.0.2.21", "port": None, "weight": 1,
        "admin_state": "enabled", "forwarding": "", "check_address": "", "check_port": None,
    }
    assert first["directors"] == [] and first["health_check"]["slow_start"] == 0


@settings(max_examples=200, deadline=None)
@given(configs())
def test_from_json_of_to_json_gives_back_the_same_configuration_through_real_json(config):
    assert from_json(json.loads(json.dumps(to_json(config)))) == config


def indented_json(config: Config) -> str:
    """The backup text as json.dumps writes it: what to_text() must match byte for byte."""
    return json.dumps(to_json(config), indent=2, ensure_ascii=False) + "\n"


@settings(max_examples=50, deadline=None)
@given(configs())
def test_to_text_writes_what_json_dumps_writes(config):
    assert to_text(config) == indented_json(config)


def _every_text_field(config: Config, text: str) -> Config:
    """The configuration with every text field, and the director names, set to `text`."""
    objects = [config.cluster, config.redundancy]
    for vs in config.virtual_servers:
        objects += [vs, vs.health_check, *vs.real_servers]
        vs.directors = [text, text + "%s"]
    for obj in objects:
        for f in dataclasses.fields(obj):
            if f.type == "str":
                setattr(obj, f.name, text)
    return config


@settings(max_examples=50, deadline=None)
@given(configs(), st.text() | st.sampled_from(["%s", "%(name)s %% %d", "\x00", '"\\\n']))
def test_to_text_escapes_any_text_as_json_dumps_does(config, text):
    # Quotes, backslashes, control characters (NUL too), non-ASCII, lone surrogates, %.
    config = _every_text_field(config, text)
    assert to_text(config) == indented_json(config)


def test_to_text_writes_empty_lists_and_a_configuration_without_virtual_servers_as_json_dumps_does():
    config = Config(virtual_servers=exchange_2010_cas("EX", "192.0.2.50", "eth0:1", ["192.0.2.21"]))
    config.virtual_servers[0].real_servers = []
    assert config.virtual_servers[0].directors == []
    assert to_text(config) == indented_json(config)
    assert to_text(Config()) == indented_json(Config())


def refused(doc: dict) -> str:
    with pytest.raises(BackupError) as caught:
        from_json(doc)
    return str(caught.value)


def test_it_refuses_other_formats_and_versions():
    doc = sample()
    assert refused({**doc, "format": "something-else"}) == "format: not an lbadmin backup (expected 'lbadmin-backup')"
    assert refused({**doc, "version": 2}) == "version: unsupported version 2 (this lbadmin reads 1)"
    assert refused([]) == "expected an object"


def test_it_names_the_path_of_an_invalid_value():
    doc = sample()
    doc["virtual_servers"][1]["real_servers"][0]["address"] = "192.0.2.300"
    assert refused(doc) == "virtual_servers[1].real_servers[0].address: '192.0.2.300' is not a valid IP address"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["cluster"].update(network="bridge"),
     "cluster.network: unknown network type 'bridge' (one of: nat direct tunnel)"),
    (lambda d: d["redundancy"].update(heartbeat_port="539"),
     "redundancy.heartbeat_port: '539' is not a whole number"),
    (lambda d: d["virtual_servers"][0].update(active=1),
     "virtual_servers[0].active: 1 is not true or false"),
    (lambda d: d["virtual_servers"][0].update(colour="blue"),
     "virtual_servers[0].colour: unknown field"),
    (lambda d: d["virtual_servers"][0].pop("name"),
     "virtual_servers[0].name: missing"),
    (lambda d: d["virtual_servers"][0]["health_check"].update(check_type="carrier-pigeon"),
     "virtual_servers[0].health_check.check_type: unknown check type 'carrier-pigeon' "
     "(one of: tcp send_expect udp http https program dns icmp none)"),
    (lambda d: d["virtual_servers"][2].update(real_servers={}),
     "virtual_servers[2].real_servers: expected a list"),
    (lambda d: d["virtual_servers"][3]["real_servers"][1].update(address="2001:db8::1"),
     "virtual_servers[3].real_servers[1].address: real server address 2001:db8::1 is IPv6 "
     "but the virtual server address 192.0.2.50 is IPv4"),
    (lambda d: d["virtual_servers"][4].update(name="EX-443"),
     "virtual_servers[4].name: duplicate virtual server name 'EX-443'"),
    (lambda d: d["virtual_servers"][0].update(port=0),
     "virtual_servers[0].port: 0 is not a port number (1 to 65535)"),
    (lambda d: d.update(extra=True), "extra: unknown field"),
    (lambda d: d["virtual_servers"][1].update(directors="lab"),
     "virtual_servers[1].directors: 'lab' is not a list of names"),
    (lambda d: d["virtual_servers"][1].update(directors=["lab", "lab"]),
     "virtual_servers[1].directors: director 'lab' is named twice"),
    (lambda d: d["virtual_servers"][1]["real_servers"][0].update(check_address="localhost"),
     "virtual_servers[1].real_servers[0].check_address: 'localhost' is not a valid IP address"),
    (lambda d: d["virtual_servers"][1]["real_servers"][0].update(check_port=65536),
     "virtual_servers[1].real_servers[0].check_port: 65536 is not a port number (1 to 65535)"),
    (lambda d: d["virtual_servers"][1]["health_check"].update(slow_start=-5),
     "virtual_servers[1].health_check.slow_start: -5 is not a slow start time (a whole number of seconds from 0 to 86400)"),
])
def test_it_refuses_the_whole_document_for_one_wrong_part(mutate, message):
    doc = copy.deepcopy(sample())
    mutate(doc)
    assert refused(doc) == message


def test_it_fills_fields_missing_from_an_older_backup_with_defaults():
    doc = sample()
    del doc["virtual_servers"][0]["drain_timeout"]
    del doc["redundancy"]
    config = from_json(doc)
    assert config.virtual_servers[0].drain_timeout == 300
    assert config.redundancy.heartbeat_port == 539


# A version-1 document written before check_address, check_port, slow_start and
# directors existed, exactly as such a backup looks: the fields are absent.
OLD_DOCUMENT = {
    "format": "lbadmin-backup",
    "version": 1,
    "cluster": {"network": "direct"},
    "virtual_servers": [{
        "name": "web", "address": "192.0.2.80", "active": True, "port": 80,
        "real_servers": [{"name": "web1", "address": "192.0.2.11", "port": None, "weight": 1,
                          "admin_state": "enabled", "forwarding": ""}],
        "health_check": {"check_type": "http", "interval": 6, "timeout": 6, "rise": 2, "fall": 3,
                         "initial_state": "up", "http_path": "/health"},
    }],
}


def test_a_backup_from_before_the_check_target_slow_start_and_directors_loads_with_their_defaults():
    [vs] = from_json(copy.deepcopy(OLD_DOCUMENT)).virtual_servers
    assert vs.directors == []
    assert (vs.real_servers[0].check_address, vs.real_servers[0].check_port) == ("", None)
    assert vs.health_check.slow_start == 0 and vs.health_check.http_path == "/health"


def test_it_carries_the_check_target_slow_start_and_directors_and_sorts_director_names():
    doc = copy.deepcopy(OLD_DOCUMENT)
    doc["virtual_servers"][0]["directors"] = ["edge-2", "edge-1"]
    doc["virtual_servers"][0]["real_servers"][0].update(check_address="2001:db8::11", check_port=8081)
    doc["virtual_servers"][0]["health_check"]["slow_start"] = 45
    config = from_json(json.loads(json.dumps(doc)))
    [vs] = config.virtual_servers
    assert vs.directors == ["edge-1", "edge-2"]
    assert (vs.real_servers[0].check_address, vs.real_servers[0].check_port, vs.health_check.slow_start) == ("2001:db8::11", 8081, 45)
    again = to_json(config)["virtual_servers"][0]
    assert again["directors"] == ["edge-1", "edge-2"] and again["health_check"]["slow_start"] == 45
    assert (again["real_servers"][0]["check_address"], again["real_servers"][0]["check_port"]) == ("2001:db8::11", 8081)
