"""A loopback TCP proxy in front of a real database, to make it fail for real: refuse connections (the
database is down), or cut a connection right after forwarding a COMMIT, so the transaction commits but the
client never hears so (the acknowledgement is lost).

    with TcpProxy("127.0.0.1", 5432) as proxy:   # proxy.port forwards to 5432
        proxy.down()  ... proxy.up()  ... proxy.cut_after_commit()
"""

from __future__ import annotations

import socket
import threading
import time


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.mode = "up"
        self.commits_cut = 0
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> TcpProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self.listener.close()
        self._kill_all()

    def up(self) -> None:
        self.mode = "up"

    def down(self) -> None:
        """Refuse new connections and reset the open ones."""
        self.mode = "down"
        self._kill_all()

    def cut_after_commit(self) -> None:
        """The next COMMIT reaches the database; then the connection dies before the reply comes back."""
        self.mode = "cut"

    def _kill_all(self) -> None:
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "down":
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._socks |= {client, server}
            pair = {"mute": False}
            threading.Thread(target=self._pump, args=(client, server, True, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, pair), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool, pair: dict[str, bool]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not upstream and pair["mute"]:
                    continue  # the database's reply to the COMMIT: dropped
                cut = upstream and self.mode == "cut" and b"COMMIT" in data
                if cut:
                    pair["mute"] = True
                dst.sendall(data)
                if cut:
                    self.mode = "up"
                    self.commits_cut += 1
                    time.sleep(0.3)  # the database commits; its reply is never relayed
                    for s in (src, dst):
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    break
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
