"""Configuration formats, free of Django: the data model as dataclasses (config),
validators (validate), Piranha's lvs.cf (lvscf), keepalived.conf (keepalived),
the JSON backup (backup) and ready-made virtual server sets (templates)."""
