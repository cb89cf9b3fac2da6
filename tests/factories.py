"""Small builders for test data, writing through the models' own rules."""
from lbadmin.models import Director
from virtualservers.models import HealthCheck, RealServer, VirtualServer


def virtual_server(name="Exchange-443", address="192.0.2.50", port=443, **fields) -> VirtualServer:
    defaults = dict(vip_nmask="255.255.255.255", device="seth0:1", protocol="tcp", scheduler="rr",
                    persistent=14400, pmask="255.255.255.255", forwarding="direct")
    defaults.update(fields)
    vs = VirtualServer(name=name, address=address, port=port, **defaults)
    vs.full_clean()
    vs.save()
    HealthCheck.objects.create(virtual_server=vs)
    return vs


def real_server(vs, name="CAS1", address="192.0.2.21", **fields) -> RealServer:
    rs = RealServer(virtual_server=vs, name=name, address=address, **fields)
    rs.full_clean()
    rs.save()
    return rs


def director(name="lab", **fields) -> Director:
    defaults = dict(address="127.0.0.1", transport="local")
    defaults.update(fields)
    d = Director(name=name, **defaults)
    d.save()
    return d


def redundancy_pair(**director_fields):
    """Group "edge" with lb1 (priority 150) and lb2 (100), and an active virtual server on
    192.0.2.50: (group, primary, backup)."""
    from lbadmin.models import RedundancyGroup

    group = RedundancyGroup.objects.create(name="edge", virtual_router_id=51, interface="eth0")
    primary = director("lb1", group=group, priority=150, **{k: v[0] for k, v in director_fields.items()})
    backup = director("lb2", group=group, priority=100, **{k: v[1] for k, v in director_fields.items()})
    virtual_server(address="192.0.2.50", active=True)
    return group, primary, backup
