"""Test support: an SMTP server on loopback that stores what it receives in a Maildir.

Usage: smtp_server.py MAILDIR [--tls-cert CERT --tls-key KEY] [--auth USER:PASSWORD]

With a certificate it offers STARTTLS and requires it; with --auth it requires AUTH (PLAIN or
LOGIN) after STARTTLS. It binds a free port on 127.0.0.1, prints "ready PORT" and serves until
its stdin closes or it is killed, so it never outlives the test that started it.
"""
import argparse
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

parser = argparse.ArgumentParser()
parser.add_argument("maildir")
parser.add_argument("--tls-cert")
parser.add_argument("--tls-key")
parser.add_argument("--auth")
args = parser.parse_args()

for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)

probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()

options = {}
if args.tls_cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    options.update(tls_context=context, require_starttls=True)
if args.auth:
    user, password = args.auth.split(":", 1)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        # handled=False: aiosmtpd answers 535 itself when the credentials are wrong.
        return AuthResult(success=ok, handled=False)

    options.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(args.tls_cert))

controller = Controller(Mailbox(args.maildir), hostname="127.0.0.1", port=port, server_hostname="localhost", **options)
controller.start()
print(f"ready {port}", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
