"""A real SMTP server for the integration tests, built on aiosmtpd (no mocks).

The test suite starts one per test, as a child process, to receive the mail authd sends over a
real socket (plain SMTP, STARTTLS or implicit TLS), and reads what arrived from its stdout.
Run it with the tests' venv (target/test-venv; `pip install -r tests/requirements.txt`).

Commands:

  smtp_server.py make-certs DIR
      Writes into DIR (created if missing, files overwritten): ca.crt (a fresh self-signed test
      CA), server.crt + server.key (signed by that CA; SAN DNS:localhost and IP:127.0.0.1; valid
      from a day ago for 30 days; ECDSA P-256, key in PKCS#8 PEM) and wrong-ca.crt (another CA,
      unrelated, that signed nothing). Uses only the `cryptography` package. Exits 0.

  smtp_server.py serve --port PORT --mode plain|starttls|smtps [--certs DIR] [--auth USER:PASSWORD]
      Listens on 127.0.0.1:PORT (0: the OS picks one). plain: no TLS. starttls: offers STARTTLS
      with DIR/server.crt+key and refuses everything but EHLO/NOOP/QUIT/STARTTLS before it (530).
      smtps: TLS from the first byte (like port 465) with DIR/server.crt+key. With --auth, AUTH
      PLAIN and LOGIN are required before MAIL (530 otherwise) and wrong credentials get 535; in
      plain mode AUTH is allowed without TLS, in starttls mode only after STARTTLS. Without --auth,
      no login is needed (an AUTH attempt, offered only over TLS, always fails with 535).
      Stops, with status 0, on SIGTERM, SIGINT or when its stdin reaches EOF (the parent died or
      closed the pipe): the parent must give it a pipe as stdin and keep it open.

Output protocol (stdout; logs go to stderr only), one line each, flushed at once:
  ready PORT     once, when listening (the real port, also when 0 was asked).
  {"mail_from": "...", "rcpt_tos": ["..."], "data": "...", "tls": true|false, "auth": "USER"|null}
                 for every message accepted, written before the client is told 250, so a sender
                 that got its 250 can read the line. data is the raw message (CRLF line endings,
                 dot-unstuffed) decoded as UTF-8 with errors=replace; tls tells whether the message
                 came over TLS; auth is the user logged in, or null. Also subject, from, to,
                 message_id, and text and html: the message's parts, decoded (null if absent).
"""

import argparse
import asyncio
import datetime
import hmac
import ipaddress
import json
import logging
import os
import signal
import ssl
import sys
import tempfile
import threading
import warnings

log = logging.getLogger("smtp_server")


# ---------------------------------------------------------------------------------------------
# make-certs


def _write_atomic(path, data, mode=0o644):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def make_certs(out_dir):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(days=1)
    not_after = not_before + datetime.timedelta(days=30)

    def name(cn):
        return x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authd tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ])

    def make_ca(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = make_ca("authd test CA")
    _, wrong_ca_cert = make_ca("authd test CA (wrong, signed nothing)")

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    os.makedirs(out_dir, exist_ok=True)
    pem = serialization.Encoding.PEM
    _write_atomic(os.path.join(out_dir, "ca.crt"), ca_cert.public_bytes(pem))
    _write_atomic(os.path.join(out_dir, "wrong-ca.crt"), wrong_ca_cert.public_bytes(pem))
    _write_atomic(os.path.join(out_dir, "server.crt"), server_cert.public_bytes(pem))
    _write_atomic(
        os.path.join(out_dir, "server.key"),
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        mode=0o600,
    )


# ---------------------------------------------------------------------------------------------
# serve


def _emit(line):
    """One line to stdout, flushed: the only way anything reaches stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Handler:
    """aiosmtpd handler: reports each message on stdout before answering 250."""

    def __init__(self, on_broken_stdout):
        self._on_broken_stdout = on_broken_stdout

    async def handle_DATA(self, server, session, envelope):
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.original_content.decode("utf-8", errors="replace"),
            "tls": tls,
            "auth": session.auth_data if session.authenticated else None,
        }
        record.update(_parts(envelope.original_content))
        try:
            _emit(json.dumps(record))
        except OSError as e:  # the reader is gone: nobody can see this message
            log.error("cannot write to stdout (%s); stopping", e)
            self._on_broken_stdout()
            return "451 4.3.0 Test harness gone"
        log.info("accepted a message from %r to %r (tls=%s, auth=%r)",
                 record["mail_from"], record["rcpt_tos"], tls, record["auth"])
        return "250 OK"


def _parts(raw):
    """The headers a test reads, and the text and HTML parts decoded (quoted-printable or
    base64 undone), parsed by Python's own MIME parser rather than the test's."""
    import email
    import email.policy

    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {
        "subject": str(message.get("subject", "")),
        "from": str(message.get("from", "")),
        "to": str(message.get("to", "")),
        "message_id": str(message.get("message-id", "")),
        "text": None,
        "html": None,
    }
    for kind in ("plain", "html"):
        body = message.get_body(preferencelist=(kind,))
        if body is not None:
            parts["text" if kind == "plain" else "html"] = body.get_content()
    return parts


def _authenticator(user, password):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    want_user = user.encode("utf-8")
    want_password = password.encode("utf-8")

    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok_user = hmac.compare_digest(auth_data.login, want_user)
        ok_password = hmac.compare_digest(auth_data.password, want_password)
        if ok_user and ok_password:
            return AuthResult(success=True, auth_data=user)
        log.info("refused %s login for %r", mechanism, auth_data.login)
        return AuthResult(success=False, handled=False)

    return authenticate


def _watch_stdin(loop, stop):
    """Calls stop() on the loop when stdin reaches EOF (or cannot be read at all).

    A thread with a blocking read, rather than loop.add_reader, so that it also works when
    stdin is a file or /dev/null (which epoll refuses). It is a daemon: it never delays exit.
    """

    def run():
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        try:
            loop.call_soon_threadsafe(stop, "stdin closed")
        except RuntimeError:  # loop already closed: we are exiting anyway
            pass

    threading.Thread(target=run, name="stdin-watch", daemon=True).start()


async def serve(args):
    try:
        from aiosmtpd.smtp import SMTP
    except ImportError:
        log.error("aiosmtpd is missing: run this with the tests' venv "
                  "(target/test-venv/bin/python, after pip install -r tests/requirements.txt)")
        return 2

    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def stop(reason):
        if not stopped.is_set():
            log.info("stopping: %s", reason)
            stopped.set()

    tls_context = None
    if args.mode in ("starttls", "smtps"):
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(os.path.join(args.certs, "server.crt"),
                                    os.path.join(args.certs, "server.key"))

    smtp_kwargs = dict(
        hostname="localhost",  # the default, socket.getfqdn(), may wait on DNS
        enable_SMTPUTF8=True,
        loop=loop,
    )
    if args.mode == "starttls":
        smtp_kwargs.update(tls_context=tls_context, require_starttls=True)
    if args.auth is not None:
        user, _, password = args.auth.partition(":")
        smtp_kwargs.update(
            authenticator=_authenticator(user, password),
            auth_required=True,
            # plain: allowed without TLS, as asked. smtps: aiosmtpd only knows about TLS it set up
            # itself through STARTTLS, so with the default it would refuse AUTH (538) on a
            # connection that is TLS from the first byte. starttls: the default (only over TLS).
            auth_require_tls=(args.mode == "starttls"),
        )
    elif args.mode == "smtps":
        smtp_kwargs.update(auth_require_tls=False)  # offered, as over STARTTLS; always fails

    connections = set()
    handler = Handler(lambda: stop("stdout broken"))

    class TrackedSMTP(SMTP):
        def connection_made(self, transport):
            if self.transport is None:  # not the second call that STARTTLS makes
                connections.add(self)
            super().connection_made(transport)

        def connection_lost(self, error):
            connections.discard(self)
            super().connection_lost(error)

    server = await loop.create_server(
        lambda: TrackedSMTP(handler, **smtp_kwargs),
        host="127.0.0.1",
        port=args.port,
        ssl=tls_context if args.mode == "smtps" else None,
        reuse_address=True,
    )
    port = server.sockets[0].getsockname()[1]

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, signal.Signals(sig).name)
    _watch_stdin(loop, stop)

    log.info("listening on 127.0.0.1:%d (mode %s, auth %s)", port, args.mode,
             "required" if args.auth is not None else "off")
    try:
        _emit(f"ready {port}")
    except OSError:
        stop("stdout broken")

    await stopped.wait()

    server.close()  # the listening socket is released here
    for conn in list(connections):
        transport = conn._original_transport or conn.transport
        if transport is not None:
            transport.abort()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=0.5)
    except asyncio.TimeoutError:
        pass
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p_certs = sub.add_parser("make-certs", help="write a test CA and a server certificate")
    p_certs.add_argument("dir")

    p_serve = sub.add_parser("serve", help="run the SMTP server")
    p_serve.add_argument("--port", type=int, required=True)
    p_serve.add_argument("--mode", choices=("plain", "starttls", "smtps"), required=True)
    p_serve.add_argument("--certs", help="the make-certs DIR (starttls and smtps)")
    p_serve.add_argument("--auth", metavar="USER:PASSWORD",
                         help="require AUTH PLAIN/LOGIN with these credentials")
    p_serve.add_argument("--verbose", action="store_true",
                         help="log every SMTP exchange to stderr")

    args = parser.parse_args(argv)

    if args.command == "make-certs":
        make_certs(args.dir)
        return 0

    if args.mode != "plain" and not args.certs:
        parser.error(f"--mode {args.mode} needs --certs DIR")
    if args.auth is not None and ":" not in args.auth:
        parser.error("--auth takes USER:PASSWORD")

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="smtp_server %(levelname)s %(name)s: %(message)s",
    )
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    # aiosmtpd warns, at every connection, that AUTH without TLS is insecure (here on purpose, or
    # the TLS is implicit and aiosmtpd cannot see it), and that Session.login_data, which it sets
    # itself on every login, is deprecated. Neither says anything about the test.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").addFilter(
        lambda record: not record.getMessage().startswith(
            ("auth_required == True but auth_require_tls == False",
             "Session.login_data is deprecated"))
    )

    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
