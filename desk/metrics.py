"""Prometheus metrics of a running desk (prometheus-client), served at ``/metrics`` by the dashboard.

Gauges and counters are read from the latest status document when scraped; latencies are
histograms the sampler observes as transfers, chain hops and hedges finish.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["DeskMetrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class _StatusCollector(Collector):
    def __init__(self, metrics: DeskMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        status = self.metrics.status
        if status is None:
            return
        restarts = CounterMetricFamily("treasury_actor_restarts", "Restarts of each actor", labels=["actor"])
        mailbox = GaugeMetricFamily("treasury_actor_mailbox_depth", "Messages waiting per actor", labels=["actor"])
        up = GaugeMetricFamily("treasury_actor_running", "1 when the actor is running", labels=["actor", "state"])
        for actor in status["actors"]:
            restarts.add_metric([actor["name"]], actor["restarts"])
            mailbox.add_metric([actor["name"]], actor["mailbox"])
            up.add_metric([actor["name"], actor["state"]], 1.0 if actor["state"] == "running" else 0.0)
        yield from (restarts, mailbox, up)
        yield CounterMetricFamily(
            "treasury_dead_letters", "Messages that could not be delivered or handled", value=status["dead_letters"]
        )
        transfers = GaugeMetricFamily("treasury_transfers", "Transfers by status", labels=["status"])
        stats = status.get("transfers") or {}
        for key in ("done", "in_flight", "in_doubt", "failed_attempts"):
            transfers.add_metric([key], stats.get(key, 0))
        yield transfers
        balance = GaugeMetricFamily("treasury_balance", "Ledger slot amounts", labels=["account", "currency", "slot"])
        for row in status.get("slots", []):
            for slot in row["slots"]:
                balance.add_metric(
                    [f"{row['exchange']}.{row['account']}", row["currency"], slot["name"]], slot["amount"]
                )
        yield balance
        yield GaugeMetricFamily("treasury_tasks_pending", "Pending transfer tasks", value=len(status["tasks"]))
        hedge = status.get("hedge")
        if hedge:
            yield GaugeMetricFamily(
                "treasury_hedge_net_exposure", "A's position plus B's (base currency)", value=hedge["net_exposure"]
            )
            unhedged = len(hedge["unanswered"]) + len(hedge["failed"])
            yield GaugeMetricFamily(
                "treasury_hedge_unhedged_fills", "Fills B has not answered or failed to hedge", value=unhedged
            )
            yield GaugeMetricFamily(
                "treasury_hedge_paused", "1 while the hedge pair is paused", value=1.0 if hedge["paused"] else 0.0
            )
            pnl = GaugeMetricFamily("treasury_hedge_pnl", "Hedge pair PnL in the quote currency", labels=["kind"])
            pnl.add_metric(["realised"], hedge["realised_pnl"])
            pnl.add_metric(["unrealised"], hedge["unrealised_pnl"])
            yield pnl
            done = CounterMetricFamily("treasury_hedges", "Hedges finished, by outcome", labels=["outcome"])
            done.add_metric(["done"], hedge["hedges_done"])
            done.add_metric(["failed"], hedge["hedges_failed"])
            yield done
        corrections = CounterMetricFamily(
            "treasury_ledger_corrections", "Reconciles that corrected a ledger", labels=["account", "currency"]
        )
        corrected = CounterMetricFamily(
            "treasury_ledger_correction_amount",
            "Total size of the corrections (|venue - ledger|), in the ledger's currency",
            labels=["account", "currency"],
        )
        for row in status.get("ledger_corrections", []):
            corrections.add_metric([row["account"], row["currency"]], row["count"])
            corrected.add_metric([row["account"], row["currency"]], row["amount"])
        yield from (corrections, corrected)
        errors = CounterMetricFamily("treasury_venue_errors", "Venue calls that raised, by kind", labels=["kind"])
        for kind, count in sorted(status.get("venue_errors", {}).items()):
            errors.add_metric([kind], count)
        yield errors
        jobs = CounterMetricFamily("treasury_scheduler_job_runs", "Times each scheduled job fired", labels=["job"])
        for job in status.get("schedule", []):
            jobs.add_metric([job["name"]], job["fired"])
        yield jobs
        alerts = GaugeMetricFamily("treasury_alerts_open", "Open alert incidents", labels=["severity"])
        by_severity: dict[str, int] = {"warning": 0, "critical": 0}
        for entry in status.get("alerts", {}).get("open", []):
            by_severity[entry["severity"]] = by_severity.get(entry["severity"], 0) + 1
        for severity, count in by_severity.items():
            alerts.add_metric([severity], count)
        yield alerts


class DeskMetrics:
    """The desk's metrics registry: `update` with each status document, `observe_*` the latencies."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.status: Mapping[str, Any] | None = None
        self.transfer_latency = Histogram(
            "treasury_transfer_latency_seconds",
            "Transfer created -> settled",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.chain_hop_latency = Histogram(
            "treasury_chain_hop_latency_seconds",
            "Time a chain spent on one hop",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.hedge_latency = Histogram(
            "treasury_hedge_latency_seconds", "A's fill -> B's answer", buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.registry.register(_StatusCollector(self))

    def update(self, status: Mapping[str, Any]) -> None:
        self.status = status

    def text(self) -> bytes:
        """The exposition format, as ``/metrics`` serves it."""
        return generate_latest(self.registry)
