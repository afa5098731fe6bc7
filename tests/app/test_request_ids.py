"""Request ids: unique per process and counter, and a forked child never repeats its parent's."""

from __future__ import annotations

import os

from req_llm_gateway.app.middleware import request_id_of


def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "headers": list(headers)}


def test_a_sane_client_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id_of(scope((b"x-request-id", b"abc-123.x:y"))) == "abc-123.x:y"
    replaced = request_id_of(scope((b"x-request-id", b"bad id\n")))
    assert len(replaced) == 32 and replaced != "bad id\n"


def test_ids_in_one_process_share_a_prefix_and_count_up() -> None:
    a, b = request_id_of(scope()), request_id_of(scope())
    assert a[:16] == b[:16] and int(b[16:], 16) == int(a[16:], 16) + 1


def test_a_forked_child_draws_a_new_prefix() -> None:
    parent = request_id_of(scope())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, request_id_of(scope()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert len(child) == 32 and child[:16] != parent[:16]
