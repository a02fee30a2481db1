#!/usr/bin/python3
"""Runs PyKMIP's own server (kmip.services.server.server.main) with the
engine's list of protocol versions cut down, e.g. to a server that offers
only KMIP < 1.4:

  pykmip_server_versions.py 1.2,1.1,1.0 -f server.conf -l server.log

Requests in another version are refused by PyKMIP itself (Invalid Message,
"KMIP 1.4 is not supported by the server."); DiscoverVersions answers with
the list. Nothing else is changed.
"""
import sys

from kmip.core.messages import contents
from kmip.services.server import engine, server

versions = [contents.ProtocolVersion(*map(int, v.split(".")))
            for v in sys.argv[1].split(",")]
_init = engine.KmipEngine.__init__


def _init_limited(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self._protocol_versions = list(versions)
    default = contents.ProtocolVersion(1, 2)
    if default not in versions:
        default = versions[0]
    self.default_protocol_version = default
    self._protocol_version = default


engine.KmipEngine.__init__ = _init_limited
sys.argv = [sys.argv[0]] + sys.argv[2:]
sys.exit(server.main())
