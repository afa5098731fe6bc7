"""The `:telemetry` port: attach/detach/execute/span/list_handlers semantics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from req_llm_gateway import telemetry


@pytest.fixture(autouse=True)
def _clean() -> Any:
    before = {h["id"] for h in telemetry.list_handlers(())}
    yield
    for handler_id in {h["id"] for h in telemetry.list_handlers(())} - before:
        telemetry.detach(handler_id)


def test_attached_handler_receives_event_measurements_metadata_and_config() -> None:
    got: list[tuple[Any, ...]] = []
    telemetry.attach("h1", ("app", "thing", "done"), lambda *a: got.append(a), {"cfg": 1})
    telemetry.execute(("app", "thing", "done"), {"n": 3}, {"who": "me"})
    assert got == [(("app", "thing", "done"), {"n": 3}, {"who": "me"}, {"cfg": 1})]


def test_event_names_given_as_lists_are_normalised_to_tuples() -> None:
    got: list[Any] = []
    telemetry.attach("h1", ["app", "x"], lambda e, m, md, c: got.append(e))
    telemetry.execute(["app", "x"], {}, {})
    assert got == [("app", "x")]


def test_attaching_a_taken_id_raises_already_exists() -> None:
    telemetry.attach("dup", ("a",), lambda *a: None)
    with pytest.raises(telemetry.AlreadyExistsError):
        telemetry.attach("dup", ("b",), lambda *a: None)


def test_detach_removes_every_event_of_the_handler_and_unknown_id_raises() -> None:
    got: list[Any] = []
    telemetry.attach_many("many", [("a",), ("b",)], lambda e, m, md, c: got.append(e))
    telemetry.detach("many")
    telemetry.execute(("a",), {}, {})
    telemetry.execute(("b",), {}, {})
    assert got == []
    with pytest.raises(telemetry.HandlerNotFoundError):
        telemetry.detach("many")


def test_list_handlers_filters_by_prefix_one_entry_per_event() -> None:
    fn = lambda *a: None
    telemetry.attach_many("m", [("req", "a", "start"), ("req", "a", "stop"), ("other",)], fn, "c")
    listed = telemetry.list_handlers(("req", "a"))
    assert sorted(h["event_name"] for h in listed) == [("req", "a", "start"), ("req", "a", "stop")]
    assert all(h["id"] == "m" and h["function"] is fn and h["config"] == "c" for h in listed)


def test_handler_that_raises_is_detached_and_failure_is_emitted() -> None:
    failures: list[Any] = []
    telemetry.attach("watch", telemetry.FAILURE_EVENT, lambda e, m, md, c: failures.append(md))
    calls: list[int] = []

    def bad(*_: Any) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    telemetry.attach("bad", ("app", "ev"), bad)
    telemetry.execute(("app", "ev"), {}, {})  # must not raise
    telemetry.execute(("app", "ev"), {}, {})
    assert calls == [1]
    assert [h for h in telemetry.list_handlers(("app",))] == []
    (meta,) = failures
    assert meta["handler_id"] == "bad" and meta["kind"] == "error"
    assert isinstance(meta["reason"], RuntimeError) and meta["stacktrace"]


def test_other_handlers_still_run_when_one_raises() -> None:
    got: list[str] = []
    telemetry.attach("bad", ("ev",), lambda *a: 1 / 0)
    telemetry.attach("good", ("ev",), lambda *a: got.append("good"))
    telemetry.execute(("ev",), {}, {})
    assert got == ["good"]


def test_span_emits_start_then_stop_with_duration_and_added_measurements() -> None:
    with telemetry.capture([("job", "start"), ("job", "stop")]) as events:
        with telemetry.span(("job",), {"id": 7}) as s:
            s.measurements["items"] = 3
    assert [e.event for e in events] == [("job", "start"), ("job", "stop")]
    assert isinstance(events[0].measurements["system_time"], int)
    assert events[1].measurements["items"] == 3 and events[1].measurements["duration"] >= 0
    assert events[1].metadata == {"id": 7}


def test_span_emits_exception_with_kind_error_and_reraises() -> None:
    with telemetry.capture([("job", "exception")]) as events:
        with pytest.raises(ValueError):
            with telemetry.span(("job",), {"id": 1}):
                raise ValueError("no")
    (ev,) = events
    assert ev.metadata["kind"] == "error" and isinstance(ev.metadata["reason"], ValueError)
    assert ev.metadata["id"] == 1 and ev.measurements["duration"] >= 0


async def test_span_reports_cancellation_as_kind_exit() -> None:
    async def work() -> None:
        with telemetry.span(("job",), {}):
            await asyncio.sleep(10)

    with telemetry.capture([("job", "exception")]) as events:
        task = asyncio.create_task(work())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert events[0].metadata["kind"] == "exit"


def test_handler_cannot_change_what_another_handler_sees() -> None:
    seen: list[Any] = []

    def meddler(_e: Any, m: Any, md: Any, _c: Any) -> None:
        md["provider"] = "changed"

    telemetry.attach("meddler", ("app", "x"), meddler)
    telemetry.attach("reader", ("app", "x"), lambda e, m, md, c: seen.append(dict(md)))
    telemetry.execute(("app", "x"), {"n": 1}, {"provider": "openai"})
    telemetry.execute(("app", "x"), {"n": 1}, {"provider": "openai"})
    assert seen == [{"provider": "openai"}, {"provider": "openai"}]
    assert "meddler" not in {h["id"] for h in telemetry.list_handlers(())}  # writing raised: detached


def test_emitter_changing_its_dict_after_dispatch_changes_nothing_recorded() -> None:
    meta = {"provider": "openai"}
    measurements = {"n": 1}
    with telemetry.capture([("app", "x")]) as events:
        telemetry.execute(("app", "x"), measurements, meta)
    meta["provider"] = "later"
    measurements["n"] = 2
    assert events[0].metadata == {"provider": "openai"}
    assert events[0].measurements == {"n": 1}


def test_handler_raising_system_exit_is_detached_with_failure_and_traceback_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    def exits(*_a: Any) -> None:
        raise SystemExit(3)

    telemetry.attach("exits", ("app", "x"), exits)
    with telemetry.capture([telemetry.FAILURE_EVENT]) as failures:
        telemetry.execute(("app", "x"), {}, {})  # does not raise
    assert failures[0].metadata["handler_id"] == "exits"
    assert failures[0].metadata["kind"] == "exit"
    assert isinstance(failures[0].metadata["reason"], SystemExit)
    assert "exits" not in {h["id"] for h in telemetry.list_handlers(())}
    [record] = [r for r in caplog.records if "exits" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is SystemExit


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, asyncio.CancelledError])
def test_keyboard_interrupt_and_cancellation_in_a_handler_reach_the_caller(exc_type: type[BaseException]) -> None:
    def interrupted(*_a: Any) -> None:
        raise exc_type()

    telemetry.attach("interrupted", ("app", "x"), interrupted)
    with pytest.raises(exc_type):
        telemetry.execute(("app", "x"), {}, {})
    assert "interrupted" in {h["id"] for h in telemetry.list_handlers(())}
