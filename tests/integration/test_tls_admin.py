"""TLS settings an administrator can get wrong, and what a reload must not
let slip through: a referential policy with a non-RSA certificate, tickets
that would skip newly required client certificates, and listeners whose
section a reload deactivated."""
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import (Gateway, Client, TestCA, HELLO_OK, MISCOMMD, make_self_signed,
                     tls_context)


class ReferentialNeedsRsaTest(unittest.TestCase):
    def test_ecdsa_certificate_is_refused(self):
        gw = Gateway(tls={"cipher_policy": "referential"}, start=False)
        make_self_signed(gw.cert, os.path.join(gw.dir, "certs", "miscomm.key"))
        r = subprocess.run([MISCOMMD, "-c", gw.ini], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("key=cipher_policy", r.stderr)
        self.assertIn("misctl cert create --key rsa-3072", r.stderr)


class ReloadSecurityTest(unittest.TestCase):
    def login(self, gw, session=None, ctx=None):
        ctx = ctx or tls_context("1.3")
        raw = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        c = Client.__new__(Client)
        c.sock = ctx.wrap_socket(raw, session=session)
        c.next_id = 1
        _, (mtype, _, _) = c.hello(gw.password)
        return c, mtype

    def test_tickets_stop_working_when_client_certificates_become_required(self):
        ca = TestCA(tempfile.mkdtemp(prefix="miscomm-ca-"))
        with Gateway() as gw:
            ctx = tls_context("1.3")
            c, mtype = self.login(gw, ctx=ctx)
            self.assertEqual(mtype, HELLO_OK)
            session = c.sock.session
            c.close()
            # A control: without a reload the ticket resumes.
            c, mtype = self.login(gw, session=session, ctx=ctx)
            self.assertTrue(c.sock.session_reused)
            session = c.sock.session
            c.close()
            gw.tls.update({"require_client_cert": "yes", "client_ca": ca.cert})
            gw.write_config()
            gw.proc.send_signal(signal.SIGHUP)
            gw.wait_log(r"event=reload result=ok")
            gw.wait_log(r"event=ticket_keys_renewed")
            # The device without a certificate must now be refused, resumed or not.
            refused = False
            try:
                c, mtype = self.login(gw, session=session, ctx=ctx)
                refused = mtype != HELLO_OK
                c.close()
            except (ssl.SSLError, ConnectionError, OSError):
                refused = True
            self.assertTrue(refused, "a ticket from before the reload skipped the client "
                                     "certificate check")
            gw.wait_log(r'reason="no client certificate"')
            gw.stop()

    def test_deactivated_section_keeps_its_listener_working(self):
        # After the reload no active section uses TLS any more, yet the TLS
        # listener stays up until the restart: it still needs its context.
        with Gateway(conns=[{"name": "one"}, {"name": "two", "encryption": "none"}]) as gw:
            gw.conns[0]["active"] = "no"
            gw.write_config()
            gw.proc.send_signal(signal.SIGHUP)
            gw.wait_log(r"event=reload result=ok")
            gw.wait_log(r"event=reload connection=one note=")
            with Client(gw.conns[0]["port"]) as c:
                _, (mtype, _, _) = c.hello(gw.password)
                self.assertEqual(mtype, HELLO_OK)
            self.assertNotIn("cannot set up the transport", gw.log())
            gw.stop()


if __name__ == "__main__":
    unittest.main()
