"""The pure parts of ``ops status``: the quick drift check and what needs attention."""

from __future__ import annotations

from builders import inventory as inv
from ops.status import RegionStatus, quick_drift


def item(name: str, certificate_id: str, status: str = inv.ACTIVE) -> dict:
    return inv.flat_item(inv.item(thing_name=name, certificate_id=certificate_id, certificate_pem="PEM",
                                  ca_certificate_id="c" * 64, origin_region="eu-west-1",
                                  registered_at="2025-01-01T00:00:00Z", status=status))


def test_quick_drift_compares_items_with_the_listings() -> None:
    items = {"ok": item("ok", "1"), "no-thing": item("no-thing", "2"), "pending": item("pending", "3"),
             "owned": item("owned", "4"), "gone": item("gone", "5", inv.REVOKED),
             "lingers": item("lingers", "6", inv.REVOKED)}
    things = {"ok": {"certificateId": "1"}, "pending": {}, "owned": {"certificateId": "9"}, "lingers": {},
              "stray": {}, "canary-us-west-2": {}}
    certificates = {"1": "ACTIVE", "3": "PENDING_ACTIVATION", "4": "ACTIVE", "5": "REVOKED", "6": "ACTIVE"}
    drifted, orphans = quick_drift(items, things, certificates)
    assert drifted == ["lingers: thing still exists, certificate still ACTIVE",
                       "no-thing: thing missing, certificate missing",
                       "owned: thing records another owner",
                       "pending: certificate PENDING_ACTIVATION"]
    assert orphans == ["stray"]  # the region's canary is no device and not drift


def test_what_needs_attention() -> None:
    assert RegionStatus("us-west-2", devices={"ACTIVE": 3}, onboarding=2, replications_running=1).attention == []
    row = RegionStatus("us-west-2", drift=1, dead_letters=2, telemetry_errors=1, replica_disagrees=1,
                       jitr_refusals={"ImpostorCertificateRejected": 1}, canary={"state": "ALARM"})
    assert row.attention == ["1 drifted", "2 dead letters", "1 telemetry errors",
                             "1 items disagree with another replica", "JITR failures in the last hour",
                             "canary in ALARM"]


def test_one_get_metric_data_call_reads_every_figure_from_the_catalog() -> None:
    import datetime as dt

    from contract import metrics
    from ops.status import MAX_METRIC_QUERIES, apply_metrics, metric_lines, metric_queries, read_metrics

    queries = metric_queries(["iot:AttachPolicy", "iot:RegisterThing"])
    assert len(queries) <= MAX_METRIC_QUERIES and len({q.id for q in queries}) == len(queries)
    series = {(q.metric.name, q.dimensions) for q in queries}
    for verdict in metrics.REGISTRATION_VERDICTS:
        assert (metrics.REGISTRATIONS.name, (("Verdict", verdict),)) in series
    for reason in metrics.REFUSAL_REASONS:
        assert (metrics.REFUSALS.name, (("Reason", reason),)) in series
    for outcome in metrics.PROVISIONING_OUTCOMES:
        assert (metrics.PROVISIONING_REQUESTS.name, (("Outcome", outcome),)) in series
    for reason in metrics.PACER_REFUSAL_REASONS:
        assert (metrics.PACER_REFUSALS.name, (("Api", "iot:RegisterThing"), ("Reason", reason))) in series
    assert {q.stat for q in queries if q.metric is metrics.PACER_WAIT} == {"Maximum"}

    calls: list[dict] = []
    by_series = {(q.metric.name, q.dimensions): q.id for q in queries}
    data = {by_series[metrics.REGISTRATIONS.name, (("Verdict", "NEW"),)]: [2.0, 1.0],
            by_series[metrics.REFUSALS.name, (("Reason", "ThingNameClaimedByAnotherCertificate"),)]: [1.0],
            by_series[metrics.PACER_SLOTS.name, (("Api", "iot:AttachPolicy"),)]: [4.0],
            by_series[metrics.PACER_WAIT.name, (("Api", "iot:AttachPolicy"),)]: [0.5, 2.25],
            by_series[metrics.PACER_REFUSALS.name, (("Api", "iot:AttachPolicy"), ("Reason", "QueueTooLong"))]: [1.0]}

    class CloudWatch:
        def get_metric_data(self, **request):
            calls.append(request)
            return {"MetricDataResults": [{"Id": q["Id"], "Values": data.get(q["Id"], [])}
                                          for q in request["MetricDataQueries"]]}

    now = dt.datetime(2025, 1, 1, 11, 59, 30, 500, tzinfo=dt.UTC)  # the hour read ends with the current minute
    found = read_metrics(CloudWatch(), metrics.namespace("app"), queries, now)
    end = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    assert len(calls) == 1 and (calls[0]["StartTime"], calls[0]["EndTime"]) == (end - dt.timedelta(hours=1), end)
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in calls[0]["MetricDataQueries"]} == {"app"}
    row = RegionStatus("us-west-2")
    apply_metrics(row, queries, found)
    assert row.registrations == {"NEW": 3} and row.registration_refusals == {"ThingNameClaimedByAnotherCertificate": 1}
    assert row.pacer_slots == {"iot:AttachPolicy": 4} and row.pacer_waits == {"iot:AttachPolicy": 2.25}
    assert row.pacer_refusals == {"iot:AttachPolicy": {"QueueTooLong": 1}} and row.provisioning_outcomes == {}
    assert row.attention == []  # metrics are shown, not judged
    assert metric_lines(row).splitlines() == [
        "registered: NEW 3", "refused: ThingNameClaimedByAnotherCertificate 1", "pacer:",
        "  iot:AttachPolicy 4 slots, longest wait 2.25 s, refused QueueTooLong 1",
        "provisioning API: none in the last hour", "fleet provisioning: none in the last hour"]
