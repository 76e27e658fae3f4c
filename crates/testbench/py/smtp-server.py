"""SMTP server of the sim5360 test bench (aiosmtpd), in the foreground.

Plain port with STARTTLS (when a certificate is given) and AUTH PLAIN/LOGIN; optional
implicit-TLS port. Every message is stored as received in DIR/Maildir and its envelope
appended to DIR/envelopes.jsonl.
"""
import argparse
import asyncio
import json
import mailbox
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--tls-port", type=int)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user", default="simuser")
p.add_argument("--password", default="simpass")
p.add_argument("--auth-required", action="store_true")
p.add_argument("--require-starttls", action="store_true")
p.add_argument("--login-only", action="store_true", help="offer AUTH LOGIN, not PLAIN")
args = p.parse_args()

store = mailbox.Maildir(os.path.join(args.dir, "Maildir"), create=True)
envelopes = open(os.path.join(args.dir, "envelopes.jsonl"), "a", buffering=1)


class Store:
    async def handle_DATA(self, server, session, envelope):
        key = store.add(envelope.original_content)
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        envelopes.write(json.dumps({
            "key": key,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": user,
            "tls": tls,
            "size": len(envelope.original_content),
        }) + "\n")
        return "250 OK: queued as " + key


def check_login(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == args.user.encode()
          and auth_data.password == args.password.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


tls = None
if args.cert:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)


def smtp(starttls_context):
    return lambda: SMTP(
        Store(), hostname="smtp.test", ident="SIM5360 test SMTP",
        tls_context=starttls_context,
        require_starttls=args.require_starttls and starttls_context is not None,
        authenticator=check_login, auth_required=args.auth_required,
        auth_require_tls=False, decode_data=False,
        auth_exclude_mechanism=["PLAIN"] if args.login_only else None)


async def main():
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(smtp(tls), "127.0.0.1", args.port)]
    if args.tls_port:
        servers.append(await loop.create_server(smtp(None), "127.0.0.1", args.tls_port, ssl=tls))
    done = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, done.set)
    print("smtp ready", flush=True)
    await done.wait()
    for s in servers:
        s.close()


asyncio.run(main())
