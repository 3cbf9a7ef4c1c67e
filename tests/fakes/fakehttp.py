"""fakehttp.py - what the tests' fake HTTPS servers share (tests/hyperv/
fakewinrm.py, tests/pve/fakepve.py, tests/openstack/fakeos.py): a request
handler that answers a body with its type and length and logs nothing,
and the server on loopback over TLS whose port a test reads from a file.

It is no fake of anything itself; each fake keeps its own protocol. A
fake imports it with its own directory's sibling on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "fakes"))
    import fakehttp
"""
import os
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    """A handler whose answers are whole bodies; no access log on stderr."""

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, ctype, headers=()):
        """Answer code with body (bytes) of type ctype, extra headers."""
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_tls(handler, cert, key, port_file, port=0):
    """Serve handler on 127.0.0.1:port (0: a free one) over TLS with cert
    and key; the port is written to port_file (tmp + rename: a test that
    sees the file sees the whole number) once the server listens."""
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()
