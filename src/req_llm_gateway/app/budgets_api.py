"""`GET /v1/budgets`: the caller's own key and team budgets, and the Prometheus gauges of every budget.

    GET /v1/budgets  ->  {"object": "list", "data": [{"scope": "key", "name": "alice", "window": "day",
                          "limit_usd": "5", "spent_usd": "0.0123", "held_usd": "0", "remaining_usd": "4.9877",
                          "resets_at": "2025-06-02T00:00:00+00:00", "model": null}]}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response

from ..budgets import Budgets, from_units
from ..budgets.store import BudgetStoreUnavailable
from ..errors import GatewayError, ServiceUnavailable
from .responses import Redactor, error_body
from .routes import JSONResponse

__all__ = ["BudgetGauges", "budgets_endpoint"]


def budgets_endpoint(budgets: Budgets | None):  # type: ignore[no-untyped-def]
    async def read_budgets(request: Request) -> Response:
        key = request.scope.get("state", {}).get("key_name") or ""
        if budgets is None or not key:
            return JSONResponse({"object": "list", "data": []})
        try:
            statuses = await budgets.status(key)
        except BudgetStoreUnavailable as exc:
            err: GatewayError = ServiceUnavailable(f"The budget store is unavailable; retry shortly. ({exc})",
                                                   retry_after=1, code="budget_store_unavailable")
            return Response(error_body(err, False, Redactor()), err.status, err.headers(),
                            media_type="application/json")
        except GatewayError as err:
            return Response(error_body(err, False, Redactor()), err.status, err.headers(),
                            media_type="application/json")
        return JSONResponse({"object": "list", "data": [st.to_json() for st in statuses]})

    return read_budgets


class BudgetGauges:
    """`req_llm_gateway_budget_spent_usd{key,window}` and `..._budget_limit_usd{key,window}`, from what this
    process last saw of each budget (on admission, settlement or a read of /v1/budgets). A team budget is
    labelled `key="team:NAME"`; a per-model budget's window label carries the model (`day:openai:gpt-4o*`)."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        spent = GaugeMetricFamily("req_llm_gateway_budget_spent_usd", "Settled spend of each budget in its "
                                  "current window, in US dollars.", labels=["key", "window"])
        limit = GaugeMetricFamily("req_llm_gateway_budget_limit_usd", "The limit of each budget, in US dollars.",
                                  labels=["key", "window"])
        for spec, spent_units, limit_units in list(self.budgets.seen.values()):
            labels = [spec.name if spec.scope == "key" else f"team:{spec.name}",
                      spec.window + (f":{spec.model}" if spec.model else "")]
            spent.add_metric(labels, float(from_units(spent_units)))
            limit.add_metric(labels, float(from_units(limit_units)))
        yield spent
        yield limit
