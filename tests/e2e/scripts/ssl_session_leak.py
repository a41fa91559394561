"""Reads ssl.SSLObject.session N times after a TLS 1.2 handshake between two in-memory endpoints
(ssl.MemoryBIO: no sockets, no threads), with the self-signed key and certificate beside this script,
ssl_keycert.pem (made for this test only: openssl req -x509 -newkey rsa:2048 -nodes -days 36500
-subj /CN=localhost).

CPython 3.11's PySSL_get_session copies the session with _ssl_session_dup and then loses the copy
(gh-116810; fixed in 3.13): every read of .session leaks one. lifeline's leak scan must find those
copies under _ssl_session_dup on 3.11 and find nothing of the kind on 3.13. Prints "ssl sessions N".
"""
import os
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
reads = int(sys.argv[1]) if len(sys.argv) > 1 else 40

server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(os.path.join(HERE, "ssl_keycert.pem"))
client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client_ctx.check_hostname = False
client_ctx.verify_mode = ssl.CERT_NONE
# TLS 1.2: the session exists once the handshake is done (1.3 sends it afterwards).
client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2

c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
server = server_ctx.wrap_bio(s_in, s_out, server_side=True)


def step(endpoint):
    try:
        endpoint.do_handshake()
        return True
    except ssl.SSLWantReadError:
        return False


done = {"client": False, "server": False}
for _ in range(20):
    done["client"] = done["client"] or step(client)
    s_in.write(c_out.read())
    done["server"] = done["server"] or step(server)
    c_in.write(s_out.read())
    if done["client"] and done["server"]:
        break
assert done["client"] and done["server"], "the handshake did not finish"
sessions = [client.session for _ in range(reads)]
assert all(s is not None for s in sessions)
del sessions
print(f"ssl sessions {reads}")
