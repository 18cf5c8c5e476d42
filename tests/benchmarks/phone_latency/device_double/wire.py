"""adbd's side of the adb wire protocol, enough for the real adb server (Debian's 29.0.6) to talk to a test double.

A message is a 24-byte header (command, arg0, arg1, data length, data checksum, command ^ 0xffffffff), then the
data. The server opens a connection with CNXN; the device answers CNXN with its banner (or AUTH when it wants a
key the user never accepts: an unauthorized phone). OPEN(host id, 0, "service\\0") starts a stream, answered
OKAY(device id, host id); both sides then send WRTE and wait for the other's OKAY before the next one; CLSE ends
it. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
HEADER = struct.Struct("<6I")


def pack(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    # The checksum is the byte sum: the server checks it until both sides agree on a version that skips it.
    return HEADER.pack(command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF) + data


class Stream:
    """One service stream: ``write`` waits for the host's OKAY after each packet, ``read`` blocks for bytes."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self._okay = threading.Semaphore(0)
        self._inbox = bytearray()
        self._cv = threading.Condition()
        self.host_closed = False

    @property
    def alive(self) -> bool:
        return not self.host_closed and not self.conn.dead

    def write(self, data: bytes) -> bool:
        for start in range(0, len(data), self.conn.max_payload):
            if not self.alive:
                return False
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[start : start + self.conn.max_payload])
            while not self._okay.acquire(timeout=0.1):
                if not self.alive:
                    return False
        return self.alive

    def read(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes, or None when the stream ended first."""
        with self._cv:
            while len(self._inbox) < n:
                if not self.alive:
                    return None
                self._cv.wait(timeout=0.1)
            out = bytes(self._inbox[:n])
            del self._inbox[:n]
            return out

    def close(self) -> None:
        if self.alive:
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.host_closed = True
        self.conn.streams.pop(self.local_id, None)

    # --- from the connection's reader ---
    def _feed(self, data: bytes) -> None:
        with self._cv:
            self._inbox += data
            self._cv.notify_all()

    def _end(self) -> None:
        with self._cv:
            self.host_closed = True
            self._cv.notify_all()


class Connection(threading.Thread):
    """One TCP connection from an adb server: reads messages and starts a service thread per OPEN."""

    _ids = itertools.count(1)

    def __init__(
        self,
        sock: socket.socket,
        banner: Callable[[], bytes],
        serve: Callable[[str, Stream], None],
        unauthorized: bool = False,
        silent: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.banner = banner
        self.serve = serve
        self.unauthorized = unauthorized
        self.silent = silent  # answers nothing: a phone whose adbd hangs
        self.max_payload = MAX_PAYLOAD
        self.streams: dict[int, Stream] = {}
        self.dead = False
        self.online = False
        self._send_lock = threading.Lock()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        try:
            with self._send_lock:
                self.sock.sendall(pack(command, arg0, arg1, data))
        except OSError:
            self.kill()

    def kill(self) -> None:
        self.dead = True
        for s in list(self.streams.values()):
            s._end()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _recv(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            try:
                part = self.sock.recv(n - len(buf))
            except OSError:
                return None
            if not part:
                return None
            buf += part
        return bytes(buf)

    def run(self) -> None:
        while not self.dead:
            head = self._recv(HEADER.size)
            if head is None:
                break
            command, arg0, arg1, length, _check, _magic = HEADER.unpack(head)
            data = self._recv(length) if length else b""
            if data is None:
                break
            if not self.silent:
                self._dispatch(command, arg0, arg1, data)
        self.kill()

    def _dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = min(arg1, MAX_PAYLOAD) or MAX_PAYLOAD
            if self.unauthorized:
                self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
            else:
                self.online = True
                self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, self.banner())
        elif command == A_AUTH:
            # A signature from a key this phone never accepted: ask again; a public key: the user would be
            # prompted on the phone, and nobody answers.
            if arg0 == AUTH_SIGNATURE:
                self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
        elif command == A_OPEN and self.online:
            stream = Stream(self, next(self._ids), arg0)
            self.streams[stream.local_id] = stream
            self.send(A_OKAY, stream.local_id, arg0)
            service = data.rstrip(b"\0").decode(errors="replace")
            threading.Thread(target=self._serve, args=(service, stream), daemon=True).start()
        elif command == A_OKAY:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream._okay.release()
        elif command == A_WRTE:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream._feed(data)
                self.send(A_OKAY, arg1, arg0)
        elif command == A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream is not None:
                stream._end()

    def _serve(self, service: str, stream: Stream) -> None:
        try:
            self.serve(service, stream)
        except Exception:  # a bug in the double must show in the test log, not hang the adb client
            log.exception("device double: service %r failed", service)
        finally:
            stream.close()


class Listener:
    """The phone's adbd port on 127.0.0.1; ``stop`` drops every connection (the phone is unplugged)."""

    def __init__(self, make_connection: Callable[[socket.socket], Connection], port: int = 0) -> None:
        self._make = make_connection
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        while 5555 <= self._sock.getsockname()[1] <= 5585:  # adb servers scan that range for emulators
            self._sock.close()
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port: int = self._sock.getsockname()[1]
        self.connections: list[Connection] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            if self._stopped:
                sock.close()
                return
            conn = self._make(sock)
            self.connections.append(conn)
            conn.start()

    def stop(self) -> None:
        self._stopped = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        for conn in self.connections:
            conn.kill()
