"""FTP server of the sim5360 test bench (pyftpdlib + pyOpenSSL), in the foreground.

--port: plain FTP (AUTH TLS accepted when a certificate is given); --explicit-port: TLS
required on control and data (AUTH TLS, PBSZ 0, PROT P); --implicit-port: TLS from the
first byte. Passive and active (PORT/EPRT to the client's own address) both work.
"""
import argparse
import logging
import signal
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer

p = argparse.ArgumentParser()
p.add_argument("--root", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--explicit-port", type=int)
p.add_argument("--implicit-port", type=int)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user", default="simuser")
p.add_argument("--password", default="simpass")
args = p.parse_args()
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")

users = DummyAuthorizer()
users.add_user(args.user, args.password, args.root, perm="elradfmwMT")


class Plain(TLS_FTPHandler if args.cert else FTPHandler):
    pass


class Explicit(TLS_FTPHandler):
    tls_control_required = True
    tls_data_required = True


class Implicit(TLS_FTPHandler):
    tls_control_required = True
    tls_data_required = True

    def handle(self):
        # TLS before the 220 greeting.
        self.secure_connection(self.ssl_context)

    def handle_ssl_established(self):
        FTPHandler.handle(self)


for handler in (Plain, Explicit, Implicit):
    handler.authorizer = users
    handler.banner = "SIM5360 test FTP ready."
    handler.permit_foreign_addresses = False
    if args.cert and issubclass(handler, TLS_FTPHandler):
        handler.certfile = args.cert
        handler.keyfile = args.key

servers = [FTPServer(("127.0.0.1", args.port), Plain)]
if args.explicit_port:
    servers.append(FTPServer(("127.0.0.1", args.explicit_port), Explicit))
if args.implicit_port:
    servers.append(FTPServer(("127.0.0.1", args.implicit_port), Implicit))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ftp ready", flush=True)
servers[0].serve_forever()
