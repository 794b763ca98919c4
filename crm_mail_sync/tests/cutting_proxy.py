"""``CuttingProxy``: a loopback TCP proxy that can cut or slow the connection, to
reproduce a server that drops mid-FETCH or answers slowly."""

import contextlib
import socket
import threading
import time

from .servers import LOOPBACK, Server


class CuttingProxy(Server):
    """A loopback TCP proxy that can cut the connection or slow it down.

    ``cut_after_bytes``: once the server has sent this many bytes in total (across
    connections) to clients, both sides are closed abruptly. ``delay``: seconds to
    wait before forwarding each chunk from the server. Both can change at run time.
    """

    def __init__(self, target_host, target_port, cut_after_bytes=None, delay=0.0):
        self.target = (target_host, target_port)
        self.cut_after_bytes = cut_after_bytes
        self.delay = delay
        self.bytes_down = 0
        self.cuts = 0
        self.port = None
        self._listener = None
        self._stopping = threading.Event()
        self._sockets = []
        self._lock = threading.Lock()

    def start(self, port=0):
        """Listen (again) on ``port``, or on a free one."""
        self._stopping = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, port))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self):
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _close_pair(self, a, b):
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _pump(self, source, dest, downstream):
        source.settimeout(None)
        # Either end closing the connection ends the pump.
        with contextlib.suppress(OSError):
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if downstream:
                    if self.delay:
                        time.sleep(self.delay)
                    limit = self.cut_after_bytes
                    if limit is not None and self.bytes_down + len(chunk) >= limit:
                        keep = max(limit - self.bytes_down, 0)
                        dest.sendall(chunk[:keep])
                        self.bytes_down += keep
                        self.cuts += 1
                        break
                    self.bytes_down += len(chunk)
                dest.sendall(chunk)
        self._close_pair(source, dest)
