"""Pure planning of the preference sync: desired targets, per-record problems, actions and diffs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoutly.scheduling.policy import DEFAULT_TIERS, cooldown_for
from scoutly.sync.plan import (
    ANNOTATION_COMPANY_ID,
    FIELD_MANAGER,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    Action,
    Plan,
    apply_body,
    crd_rank,
    plan_sync,
    target_name,
)
from tests import appdata

C1, C2, C3 = "65f0000000000000000000c1", "65f0000000000000000000c2", "65f0000000000000000000c3"

# users of both app generations: u1 and u2 with a `userId`, u3 from before it existed
_U = [appdata.user("u1@x.io"), appdata.user("u2@x.io"), appdata.user("u3@x.io", generation="old")]
USERS = [{k: u[k] for k in ("_id", "userId", "email") if k in u} for u in _U]
ID = {f"u{i + 1}": str(u["_id"]) for i, u in enumerate(_U)}  # the canonical tracker: String(users._id)
# what preferences hold: String(users.userId) for the newer users, String(users._id) for the older one
PREF_ID = {"u1": str(_U[0]["userId"]), "u2": str(_U[1]["userId"]), "u3": str(_U[2]["_id"])}


def company(cid: str, name: str = "Acme", url: str = "https://boards.greenhouse.io/acme") -> dict[str, Any]:
    """The fields of an app company the sync reads (store/preferences.py COMPANY_FIELDS)."""
    return {"_id": cid, "companyID": name.lower() or cid, "company": name, "careers_url": url}


def pref(pid: str, user: str, cid: str, rank: Any = 50, tracking: Any = True) -> dict[str, Any]:
    return {
        "_id": pid,
        "userId": PREF_ID.get(user, user),
        "companyId": cid,
        "rank": rank,
        "isTracking": tracking,
    }


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
        "trackers": sorted(
            [{"user": ID["u1"], "rank": 40}, {"user": ID["u2"], "rank": 90}], key=lambda t: t["user"]
        ),
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
    assert f"trackers: {ID['u1']} 40 -> 80" in changed.actions[0].diff

    dropped = run(companies, [pref("p1", "u1", C1, 40)], [target])
    assert f"trackers: - {ID['u2']}" in dropped.actions[0].diff

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
        ([pref("p1", "u1", C1, 0)], "bad-rank"),  # the app's minimum is 1
        ([pref("p1", "u1", C1, 0.5)], "bad-rank"),
        ([pref("p1", "u1", C1, float("nan"))], "bad-rank"),
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
    assert plan.actions[0].desired.trackers == ((ID["u1"], 70),)


def test_both_user_id_forms_resolve_to_one_user() -> None:
    """The same user's preference written by the older app (String(_id)) and the newer (String(userId))
    is one tracker, the user's `_id` (what the app's saved jobs carry)."""
    plan = run(
        [company(C1)],
        [pref("p1", str(_U[0]["_id"]), C1, 30), pref("p2", "u1", C1, 60), pref("p3", "u3", C1, 40)],
    )
    assert [p.kind for p in plan.problems] == ["duplicate"]
    assert dict(plan.actions[0].desired.trackers) == {ID["u1"]: 60, ID["u3"]: 40}


def test_float_ranks_that_are_integers_are_accepted() -> None:
    plan = run([company(C1)], [pref("p1", "u1", C1, 70.0)])
    assert plan.problems == [] and plan.actions[0].desired.rank == 70


def test_missing_rank_is_the_apps_default() -> None:
    p = pref("p1", "u1", C1)
    del p["rank"]
    plan = run([company(C1)], [p])
    assert plan.problems == [] and plan.actions[0].desired.rank == 50


def test_fractional_ranks_keep_the_apps_cooldown_tier() -> None:
    """The CRD carries the floor; the tier of the floor is the app's tier of the raw number."""
    plan = run([company(C1)], [pref("p1", "u1", C1, 94.5), pref("p2", "u2", C1, 12.9)])
    assert plan.problems == []
    assert plan.actions[0].desired.rank == 94
    assert dict(plan.actions[0].desired.trackers) == {ID["u1"]: 94, ID["u2"]: 12}


@given(st.floats(min_value=1, max_value=100, allow_nan=False))
def test_the_floor_never_changes_the_tier(rank: float) -> None:
    def app_hours(r: float) -> int:  # the 3dd3bb3 scheduler's getCooldownInHours
        return 12 if r >= 95 else 24 if r >= 85 else 48 if r >= 70 else 168 if r >= 50 else 336

    ours = cooldown_for(rank=crd_rank(rank), tiers=DEFAULT_TIERS)
    assert ours.total_seconds() == app_hours(rank) * 3600


def test_stale_fields_are_ignored() -> None:
    """companies.ranking and users.trackedCompanies are left from older app versions; only the
    preferences decide who tracks what (and a user tracking a company only there tracks nothing)."""
    c = {**company(C1), "ranking": 99}
    old = {**USERS[2], "trackedCompanies": [{"companyID": "acme", "ranking": 100}]}
    plan = plan_sync(
        companies=[c], users=[*USERS[:2], old], preferences=[pref("p1", "u1", C1, 40)], targets=[]
    )
    assert plan.actions[0].desired.rank == 40
    assert dict(plan.actions[0].desired.trackers) == {ID["u1"]: 40}


def test_careers_url_is_kept_verbatim() -> None:
    url = (
        "https://careers.example.com/jobs?department=eng&office=AMS&utm_source=x"
        + "&q="
        + "a" * 200
        + "#open"
    )
    plan = run([company(C1, url=url)], [pref("p1", "u1", C1)])
    assert plan.problems == [] and plan.actions[0].desired.url == url


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
