#!/usr/bin/env python3
"""A SASL/SCRAM-SHA-512 (and -256) front for the dev broker, for tests only.

tansu 0.6.0 can require SCRAM (`--authentication`), but it keeps users in its storage and the in-memory storage
refuses the very request that would create the first user once authentication is on, so a test cannot give it
one. This proxy does what a SCRAM-enabled broker does at the start of every connection (RFC 5802 / RFC 7677 over
Kafka's SaslHandshake v0-v1 and SaslAuthenticate v0-v1), then forwards the connection byte for byte to the real
broker. ApiVersions is forwarded before authentication, as a broker answers it; any other request before a
successful authentication closes the connection, as a broker does.

    scram_proxy.py --listen PORT --upstream HOST:PORT --user NAME:PASSWORD [--mechanism SCRAM-SHA-512]

Prints "ready" once listening. Logs one line per authentication to stderr.
"""
import argparse
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import threading

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM, UNSUPPORTED_VERSION = 58, 33, 35
ITERATIONS = 4096


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(sock):
    size = struct.unpack(">i", read_exact(sock, 4))[0]
    return read_exact(sock, size)


def send_frame(sock, payload):
    sock.sendall(struct.pack(">i", len(payload)) + payload)


def parse_header(frame):
    """api_key, api_version, correlation_id and the body offset of a request with header v1."""
    api_key, api_version, correlation = struct.unpack(">hhi", frame[:8])
    client_len = struct.unpack(">h", frame[8:10])[0]
    return api_key, api_version, correlation, 10 + max(client_len, 0)


class Scram:
    def __init__(self, mechanism, user, password):
        self.hash = hashlib.sha512 if mechanism.endswith("512") else hashlib.sha256
        self.user = user
        self.salt = os.urandom(16)
        salted = hashlib.pbkdf2_hmac(self.hash().name, password.encode(), self.salt, ITERATIONS)
        self.stored_key = self.hash(self.hmac(salted, b"Client Key")).digest()
        self.server_key = self.hmac(salted, b"Server Key")

    def hmac(self, key, message):
        return hmac.new(key, message, self.hash).digest()

    def first(self, client_first):
        """The server-first message for a client-first message, and the state needed to check the proof."""
        text = client_first.decode()
        if not text.startswith("n,,"):
            raise ValueError("channel binding is not supported")
        bare = text[3:]
        attrs = dict(part.split("=", 1) for part in bare.split(","))
        if attrs.get("n") != self.user:
            raise ValueError("unknown user")
        nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        server_first = f"r={nonce},s={base64.b64encode(self.salt).decode()},i={ITERATIONS}"
        return server_first.encode(), (bare, server_first, nonce)

    def final(self, client_final, state):
        """The server-final message when the client's proof holds; raises otherwise."""
        bare, server_first, nonce = state
        text = client_final.decode()
        without_proof, proof_part = text.rsplit(",p=", 1)
        attrs = dict(part.split("=", 1) for part in without_proof.split(","))
        if attrs.get("r") != nonce:
            raise ValueError("nonce mismatch")
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        signature = self.hmac(self.stored_key, auth_message)
        proof = base64.b64decode(proof_part)
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if len(proof) != len(signature) or not hmac.compare_digest(self.hash(client_key).digest(), self.stored_key):
            raise ValueError("wrong password")
        return ("v=" + base64.b64encode(self.hmac(self.server_key, auth_message)).decode()).encode()


def handshake_response(correlation, error, mechanism):
    name = mechanism.encode()
    return struct.pack(">ihih", correlation, error, 1, len(name)) + name


def authenticate_response(correlation, version, error, message, data):
    body = struct.pack(">ih", correlation, error)
    if message is None:
        body += struct.pack(">h", -1)
    else:
        encoded = message.encode()
        body += struct.pack(">h", len(encoded)) + encoded
    body += struct.pack(">i", len(data)) + data
    if version >= 1:
        body += struct.pack(">q", 0)
    return body


def pump(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, args, scram):
    upstream_host, upstream_port = args.upstream.rsplit(":", 1)
    upstream = socket.create_connection((upstream_host, int(upstream_port)))
    state, step = None, 0
    try:
        while True:
            frame = read_frame(client)
            api_key, version, correlation, offset = parse_header(frame)
            if api_key == API_VERSIONS:
                send_frame(upstream, frame)
                send_frame(client, read_frame(upstream))
            elif api_key == SASL_HANDSHAKE:
                length = struct.unpack(">h", frame[offset:offset + 2])[0]
                mechanism = frame[offset + 2:offset + 2 + length].decode()
                ok = mechanism == args.mechanism
                send_frame(client, handshake_response(correlation, 0 if ok else UNSUPPORTED_SASL_MECHANISM, args.mechanism))
                if not ok:
                    print(f"scram-proxy: refused mechanism {mechanism}", file=sys.stderr, flush=True)
                    return
            elif api_key == SASL_AUTHENTICATE:
                if version > 1:
                    send_frame(client, authenticate_response(correlation, 1, UNSUPPORTED_VERSION, "version", b""))
                    return
                length = struct.unpack(">i", frame[offset:offset + 4])[0]
                data = frame[offset + 4:offset + 4 + length]
                try:
                    if step == 0:
                        reply, state = scram.first(data)
                        send_frame(client, authenticate_response(correlation, version, 0, None, reply))
                        step = 1
                    else:
                        reply = scram.final(data, state)
                        send_frame(client, authenticate_response(correlation, version, 0, None, reply))
                        print(f"scram-proxy: authenticated {scram.user}", file=sys.stderr, flush=True)
                        break
                except (ValueError, KeyError) as error:
                    print(f"scram-proxy: authentication failed: {error}", file=sys.stderr, flush=True)
                    send_frame(client, authenticate_response(
                        correlation, version, SASL_AUTHENTICATION_FAILED, "Authentication failed: invalid credentials", b""))
                    return
            else:
                print(f"scram-proxy: api key {api_key} before authentication; closing", file=sys.stderr, flush=True)
                return
        forward = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        forward.start()
        pump(client, upstream)
        forward.join()
    except (EOFError, OSError):
        pass
    finally:
        client.close()
        upstream.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--mechanism", default="SCRAM-SHA-512", choices=["SCRAM-SHA-512", "SCRAM-SHA-256"])
    args = parser.parse_args()
    user, password = args.user.split(":", 1)
    scram = Scram(args.mechanism, user, password)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen))
    listener.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(client, args, scram), daemon=True).start()


if __name__ == "__main__":
    main()
