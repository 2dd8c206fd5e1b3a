"""Pure planning of the preference sync: desired targets, per-record problems, actions and diffs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scoutly.sync.plan import (
    ANNOTATION_COMPANY_ID,
    FIELD_MANAGER,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    Action,
    Plan,
    apply_body,
    plan_sync,
    target_name,
)

C1, C2, C3 = "65f0000000000000000000c1", "65f0000000000000000000c2", "65f0000000000000000000c3"


def company(cid: str, name: str = "Acme", url: str = "https://boards.greenhouse.io/acme") -> dict[str, Any]:
    return {"_id": cid, "name": name, "careersUrl": url}


def pref(pid: str, user: str, cid: str, rank: Any = 50, tracking: Any = True) -> dict[str, Any]:
    return {"_id": pid, "userId": user, "companyId": cid, "rank": rank, "isTracking": tracking}


USERS = [{"_id": "u1"}, {"_id": "u2"}, {"_id": "u3"}]


def as_target(plan_action: Action, namespace: str = "ns") -> dict[str, Any]:
    """What the API server would hold after applying an action (with the sync's managedFields)."""
    body = plan_action.body(namespace)
    trackers: dict[str, Any] = {f'k:{{"user":{json.dumps(t["user"])}}}': {} for t in body["spec"]["trackers"]}
    body["metadata"]["managedFields"] = [
        {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:trackers": trackers}}}
    ]
    return body


def run(companies: list[dict[str, Any]], prefs: list[dict[str, Any]], targets: Any = ()) -> Plan:
    return plan_sync(companies=companies, users=USERS, preferences=prefs, targets=list(targets))


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.name) for a in plan.actions]


def test_one_target_per_tracked_company_with_max_rank_and_trackers() -> None:
    plan = run(
        [company(C1), company(C2, "Beta", "https://jobs.lever.co/beta"), company(C3)],
        [
            pref("p1", "u1", C1, 40),
            pref("p2", "u2", C1, 90),
            pref("p3", "u1", C2, 10),
            pref("p4", "u3", C3, 70, False),
        ],
    )
    assert kinds(plan) == [("create", f"co-{C1}"), ("create", f"co-{C2}")]
    spec = plan.actions[0].body("ns")["spec"]
    assert spec == {
        "company": "Acme",
        "companyId": C1,
        "source": {"url": "https://boards.greenhouse.io/acme"},
        "rank": 90,
        "trackers": [{"user": "u1", "rank": 40}, {"user": "u2", "rank": 90}],
        "suspend": False,
    }
    meta = plan.actions[0].body("ns")["metadata"]
    assert meta["labels"] == {LABEL_MANAGED_BY: MANAGED_BY}
    assert meta["annotations"] == {ANNOTATION_COMPANY_ID: C1}
    assert plan.problems == []
    assert plan.counts()["create"] == 2


def test_unchanged_targets_need_no_action() -> None:
    companies, prefs = [company(C1)], [pref("p1", "u1", C1, 40)]
    first = run(companies, prefs)
    again = run(companies, prefs, [as_target(a) for a in first.actions])
    assert again.actions == []
    assert again.unchanged == [f"co-{C1}"]


def test_rank_change_untrack_and_retrack() -> None:
    companies = [company(C1)]
    first = run(companies, [pref("p1", "u1", C1, 40), pref("p2", "u2", C1, 60)])
    target = as_target(first.actions[0])

    changed = run(companies, [pref("p1", "u1", C1, 80), pref("p2", "u2", C1, 60)], [target])
    assert kinds(changed) == [("update", f"co-{C1}")]
    assert "rank: 60 -> 80" in changed.actions[0].diff
    assert "trackers: u1 40 -> 80" in changed.actions[0].diff

    dropped = run(companies, [pref("p1", "u1", C1, 40)], [target])
    assert "trackers: - u2" in dropped.actions[0].diff

    untracked = run(companies, [pref("p1", "u1", C1, 40, False)], [target])
    assert kinds(untracked) == [("suspend", f"co-{C1}")]
    a = untracked.actions[0]
    assert a.desired.suspend and a.desired.trackers == () and a.desired.rank == 60  # rank kept
    assert a.reason == "nobody tracks it"

    suspended = as_target(a)
    assert run(companies, [pref("p1", "u1", C1, 40, False)], [suspended]).actions == []
    retracked = run(companies, [pref("p1", "u1", C1, 30)], [suspended])
    assert kinds(retracked) == [("resume", f"co-{C1}")]
    assert retracked.actions[0].reason == "tracked again"
    assert "suspend: true -> false" in retracked.actions[0].diff


def test_deleted_company_suspends_and_is_reported() -> None:
    first = run([company(C1)], [pref("p1", "u1", C1, 40)])
    plan = run([], [pref("p1", "u1", C1, 40)], [as_target(first.actions[0])])
    assert kinds(plan) == [("suspend", f"co-{C1}")]
    assert plan.actions[0].reason == "company deleted"
    assert plan.actions[0].desired.company == "Acme"
    assert {p.kind for p in plan.problems} == {"missing-company", "deleted"}


def test_hand_made_targets_are_never_touched() -> None:
    hand = {"metadata": {"name": f"co-{C1}"}, "spec": {"company": "Mine", "rank": 5}}
    other = {"metadata": {"name": "acme"}, "spec": {"company": "Acme", "companyId": C2, "rank": 5}}
    plan = run([company(C1), company(C2)], [pref("p1", "u1", C1), pref("p2", "u1", C2)], [hand, other])
    assert plan.actions == []
    assert sorted(p.kind for p in plan.problems) == ["hand-made", "name-taken"]


def test_trackers_added_by_others_are_no_difference() -> None:
    first = run([company(C1)], [pref("p1", "u1", C1, 40)])
    target = as_target(first.actions[0])
    target["spec"]["trackers"].append({"user": "by-hand", "rank": 99})  # not owned by the sync
    target["spec"]["cooldown"] = "6h"
    assert run([company(C1)], [pref("p1", "u1", C1, 40)], [target]).actions == []


@pytest.mark.parametrize(
    ("prefs", "kind"),
    [
        ([pref("p1", "u1", "nope")], "missing-company"),
        ([pref("p1", "ghost", C1)], "missing-user"),
        ([pref("p1", "u1", C1, 101)], "bad-rank"),
        ([pref("p1", "u1", C1, -1)], "bad-rank"),
        ([pref("p1", "u1", C1, "high")], "bad-rank"),
        ([pref("p1", "u1", C1, True)], "bad-rank"),
        ([{"_id": "p1", "companyId": C1, "rank": 5, "isTracking": True}], "incomplete"),
    ],
)
def test_bad_preferences_are_reported_and_skipped(prefs: list[dict[str, Any]], kind: str) -> None:
    plan = run([company(C1), company(C2)], [*prefs, pref("ok", "u2", C2, 20)])
    assert [p.kind for p in plan.problems] == [kind]
    assert plan.problems[0].record == "preference p1"
    assert kinds(plan) == [("create", f"co-{C2}")]  # the rest goes on
    assert plan.counts()["problems"] == 1


def test_duplicate_preferences_count_once_with_the_higher_rank() -> None:
    plan = run([company(C1)], [pref("p1", "u1", C1, 30), pref("p2", "u1", C1, 70)])
    assert [p.kind for p in plan.problems] == ["duplicate"]
    assert plan.actions[0].desired.trackers == (("u1", 70),)


def test_float_ranks_that_are_integers_are_accepted() -> None:
    plan = run([company(C1)], [pref("p1", "u1", C1, 70.0)])
    assert plan.problems == [] and plan.actions[0].desired.rank == 70


def test_bad_companies_are_reported_per_record() -> None:
    bad_id = "Not_Valid"
    plan = run(
        [
            company(C1, name=""),
            company(C2, name="X" * 300),
            company(C3, url="ftp://nope"),
            company(bad_id),
        ],
        [pref("p1", "u1", C1), pref("p2", "u1", C2), pref("p3", "u1", C3), pref("p4", "u1", bad_id)],
    )
    by = {p.record: p.kind for p in plan.problems}
    assert by == {
        f"company {C1}": "empty-name",
        f"company {C2}": "long-name",
        f"company {C3}": "bad-url",
        f"company {bad_id}": "bad-name",
    }
    specs = {a.name: a.desired for a in plan.actions}
    assert specs[f"co-{C1}"].company == C1
    assert len(specs[f"co-{C2}"].company) == 200
    assert set(specs) == {f"co-{C1}", f"co-{C2}"}


def test_target_names_are_stable_dns_labels() -> None:
    assert target_name("65F0ABC") == "co-65f0abc"
    assert target_name("a_b") is None
    assert target_name("x" * 61) is None
    assert target_name("acme-corp") == "co-acme-corp"


def test_apply_body_holds_only_owned_fields() -> None:
    plan = run([company(C1)], [pref("p1", "u1", C1)])
    body = apply_body(plan.actions[0].name, "ns", plan.actions[0].desired)
    assert set(body["spec"]) == {"company", "companyId", "source", "rank", "trackers", "suspend"}
    assert set(body["spec"]["source"]) == {"url"}
