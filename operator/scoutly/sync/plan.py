"""Pure planning of the preference sync (no I/O).

Given the app's companies, users and preferences and the ScrapeTargets that exist in the namespace,
decide the desired spec of every managed target, the per-record problems of the input, and the
actions (create / update / suspend / resume) needed to get there. Only the fields the sync owns are
ever part of an action (OWNED_FIELDS); everything else on a target belongs to its users.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scoutly.api import models as m

FIELD_MANAGER = "scoutly-sync"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "scoutly-sync"
ANNOTATION_COMPANY_ID = "scoutly.io/company-id"
NAME_PREFIX = "co-"

# spec fields the sync applies (server-side apply, field manager FIELD_MANAGER); nothing else is touched
OWNED_FIELDS = ("company", "companyId", "source.url", "rank", "trackers", "suspend")

COMPANY_NAME_MAX = 200
TRACKERS_MAX = 1000
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
COMPANY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
URL_RE = re.compile(m.URL_PATTERN)

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class Problem:
    """One bad input record: reported, skipped, never aborting the rest."""

    record: str  # e.g. "preference 65f0...", "company 65f0..."
    kind: str  # missing-company, missing-user, duplicate, bad-rank, bad-company, bad-name, bad-url, ...
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"record": self.record, "kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Desired:
    """The sync-owned fields of one target."""

    company: str
    company_id: str
    url: str
    rank: int
    trackers: tuple[tuple[str, int], ...]  # (user, rank), sorted by user
    suspend: bool

    def spec(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "companyId": self.company_id,
            "source": {"url": self.url},
            "rank": self.rank,
            "trackers": [{"user": u, "rank": r} for u, r in self.trackers],
            "suspend": self.suspend,
        }


@dataclass(frozen=True)
class Action:
    kind: str  # create | update | suspend | resume
    name: str
    company_id: str
    desired: Desired
    diff: tuple[str, ...]
    reason: str = ""

    def body(self, namespace: str) -> dict[str, Any]:
        """The server-side apply body: only the sync's own fields."""
        return apply_body(self.name, namespace, self.desired)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "companyId": self.company_id,
            "reason": self.reason,
            "diff": list(self.diff),
        }


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # managed targets already as desired

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("create", "update", "suspend", "resume")}
        for a in self.actions:
            out[a.kind] += 1
        out["unchanged"] = len(self.unchanged)
        out["problems"] = len(self.problems)
        return out


def apply_body(name: str, namespace: str, desired: Desired) -> dict[str, Any]:
    return {
        "apiVersion": m.API_VERSION,
        "kind": m.KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
            "annotations": {ANNOTATION_COMPANY_ID: desired.company_id},
        },
        "spec": desired.spec(),
    }


def target_name(company_id: str) -> str | None:
    """`co-<companyId lowercased>` when that is a valid DNS-1123 label (stable: independent of the name)."""
    name = NAME_PREFIX + company_id.lower()
    return name if len(name) <= 63 and DNS1123_LABEL.match(name) else None


def is_managed(target: Doc) -> bool:
    labels = (target.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(LABEL_MANAGED_BY) == MANAGED_BY)


def _company_id_of(target: Doc) -> str | None:
    meta = target.get("metadata") or {}
    cid = (meta.get("annotations") or {}).get(ANNOTATION_COMPANY_ID) or (target.get("spec") or {}).get(
        "companyId"
    )
    return str(cid) if cid else None


APP_RANK_DEFAULT = 50  # UserCompanyPreference.rank's default, which Mongoose fills in on read


def app_rank(value: Any) -> float | None:
    """A preference's rank as the app uses it: a Number 1..100, fractions allowed (94.5); missing means
    the schema's default. None: not a rank the app could have stored."""
    if value is None:
        return float(APP_RANK_DEFAULT)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 1 <= value <= 100 else None


def crd_rank(rank: float) -> int:
    """The CRD's integer rank: the floor. The cooldown tiers' thresholds are integers, and for an
    integer t, rank >= t exactly when floor(rank) >= t: 94.5 keeps the app's 24h tier, 95.0 its 12h."""
    return math.floor(rank)


def _rank(value: Any) -> int | None:
    """The rank of a target found in the cluster (already an integer 0..100), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= 100:
        return value
    return None


def _url(company: Doc) -> str | None:
    """`careers_url` verbatim: query strings, fragments and length as the app stored them."""
    v = company.get("careers_url")
    return v if isinstance(v, str) and v else None


def owned_tracker_users(target: Doc) -> set[str]:
    """Users of spec.trackers entries the sync owns (from managedFields: its Apply entry)."""
    users: set[str] = set()
    for mf in (target.get("metadata") or {}).get("managedFields") or []:
        if mf.get("manager") != FIELD_MANAGER or mf.get("operation") != "Apply":
            continue
        trackers = ((mf.get("fieldsV1") or {}).get("f:spec") or {}).get("f:trackers") or {}
        for key in trackers:
            if key.startswith("k:"):
                try:
                    users.add(str(json.loads(key[2:])["user"]))
                except (ValueError, KeyError, TypeError):
                    continue
    return users


def current_of(target: Doc) -> dict[str, Any]:
    """The target's values of the sync-owned fields (defaults where absent)."""
    spec = target.get("spec") or {}
    return {
        "company": spec.get("company"),
        "companyId": spec.get("companyId"),
        "source.url": (spec.get("source") or {}).get("url"),
        "rank": spec.get("rank", 50),
        "trackers": {str(t.get("user")): t.get("rank") for t in spec.get("trackers") or []},
        "suspend": bool(spec.get("suspend", False)),
    }


def diff_target(target: Doc | None, desired: Desired) -> list[str]:
    """Human-readable differences between a target's owned fields and the desired ones; [] = no write.

    Tracker entries added by others (not owned by the sync) are left alone and are no difference.
    """
    want: dict[str, Any] = {
        "company": desired.company,
        "companyId": desired.company_id,
        "source.url": desired.url,
        "rank": desired.rank,
        "suspend": desired.suspend,
    }
    if target is None:
        out = [f"{k}: + {json.dumps(v)}" for k, v in want.items()]
        out += [f"trackers: + {u}={r}" for u, r in desired.trackers]
        return out
    cur = current_of(target)
    out = [f"{k}: {json.dumps(cur[k])} -> {json.dumps(v)}" for k, v in want.items() if cur[k] != v]
    have: dict[str, Any] = cur["trackers"]
    wanted = dict(desired.trackers)
    for u, r in desired.trackers:
        if u not in have:
            out.append(f"trackers: + {u}={r}")
        elif have[u] != r:
            out.append(f"trackers: {u} {have[u]} -> {r}")
    for u in sorted(owned_tracker_users(target) - wanted.keys()):
        if u in have:
            out.append(f"trackers: - {u}")
    meta = target.get("metadata") or {}
    if (meta.get("annotations") or {}).get(ANNOTATION_COMPANY_ID) != desired.company_id:
        out.append(f"annotation {ANNOTATION_COMPANY_ID}: -> {desired.company_id}")
    return out


def plan_sync(
    *,
    companies: Iterable[Doc],
    users: Iterable[Doc],
    preferences: Iterable[Doc],
    targets: Iterable[Doc],
) -> Plan:
    """Desired managed targets, problems per input record, and the actions to take (pure)."""
    plan = Plan()
    problems = plan.problems

    # companies by id; bad records reported
    company_by_id: dict[str, Doc] = {}
    for c in companies:
        cid = str(c.get("_id"))
        if cid in company_by_id:
            problems.append(Problem(f"company {cid}", "duplicate", "duplicate company id; first kept"))
            continue
        company_by_id[cid] = c
    # a preference's userId holds String(users._id) (older app) or String(users.userId) (newer app);
    # both resolve to the user's _id, the id the app's saved jobs carry
    user_key: dict[str, str] = {}
    for u in users:
        if u.get("_id") is None:
            continue
        uid = str(u["_id"])
        user_key[uid] = uid
        if u.get("userId") is not None:
            user_key.setdefault(str(u["userId"]), uid)

    # preferences -> tracking (company -> user -> raw rank), bad records reported
    seen: dict[tuple[str, str], str] = {}
    tracking: dict[str, dict[str, float]] = {}
    for p in preferences:
        pid = str(p.get("_id"))
        rec = f"preference {pid}"
        raw_uid, raw_cid = p.get("userId"), p.get("companyId")
        if raw_uid in (None, "") or raw_cid is None:
            problems.append(Problem(rec, "incomplete", "preference without userId or companyId"))
            continue
        cid = str(raw_cid)
        if cid not in company_by_id:
            problems.append(Problem(rec, "missing-company", f"company {cid} does not exist"))
            continue
        found = user_key.get(str(raw_uid))
        if found is None:
            problems.append(Problem(rec, "missing-user", f"user {raw_uid} does not exist"))
            continue
        uid = found
        if p.get("isTracking") is not True:
            continue
        rank = app_rank(p.get("rank"))
        if rank is None:
            problems.append(
                Problem(rec, "bad-rank", f"rank {p.get('rank')!r} is not a number in 1..100; skipped")
            )
            continue
        key = (uid, cid)
        if key in seen:
            kept = max(rank, tracking[cid][uid])
            problems.append(
                Problem(
                    rec,
                    "duplicate",
                    f"duplicate of preference {seen[key]} (user {uid}, company "
                    f"{cid}); the higher rank {kept:g} counts",
                )
            )
            tracking[cid][uid] = kept
            continue
        seen[key] = pid
        tracking.setdefault(cid, {})[uid] = rank

    # existing targets: managed by company id; names taken by hand-made targets
    managed_by_cid: dict[str, Doc] = {}
    by_name: dict[str, Doc] = {}
    hand_made_cids: dict[str, str] = {}
    for t in targets:
        meta = t.get("metadata") or {}
        by_name[str(meta.get("name"))] = t
        tcid = _company_id_of(t)
        if is_managed(t):
            if tcid:
                managed_by_cid[tcid] = t
        elif tcid:
            hand_made_cids.setdefault(tcid, str(meta.get("name")))

    def emit(name: str, cid: str, target: Doc | None, desired: Desired, reason: str = "") -> None:
        changes = diff_target(target, desired)
        if not changes:
            plan.unchanged.append(name)
            return
        if target is None:
            kind = "create"
        elif desired.suspend and not current_of(target)["suspend"]:
            kind = "suspend"
        elif not desired.suspend and current_of(target)["suspend"]:
            kind = "resume"
        else:
            kind = "update"
        plan.actions.append(Action(kind, name, cid, desired, tuple(changes), reason))

    # tracked companies -> desired targets
    for cid in sorted(tracking):
        trackers = tracking[cid]
        if not trackers:
            continue
        rec = f"company {cid}"
        existing = managed_by_cid.get(cid)
        name = str(existing["metadata"]["name"]) if existing else target_name(cid)
        if name is None or not COMPANY_ID.match(cid):
            problems.append(
                Problem(rec, "bad-name", f"company id {cid!r} gives no valid Kubernetes name; skipped")
            )
            continue
        if existing is None:
            if cid in hand_made_cids:
                problems.append(
                    Problem(
                        rec, "hand-made", f"tracked by hand-made target {hand_made_cids[cid]}; left alone"
                    )
                )
                continue
            other = by_name.get(name)
            if other is not None:
                owner = (
                    "not managed by scoutly-sync"
                    if not is_managed(other)
                    else (f"managed for company {_company_id_of(other)}")
                )
                problems.append(Problem(rec, "name-taken", f"target {name} exists and is {owner}; skipped"))
                continue
        company = company_by_id[cid]
        raw_name = company.get("company")
        display = raw_name.strip() if isinstance(raw_name, str) else ""
        if not display:
            problems.append(Problem(rec, "empty-name", "company name is empty; the company id is shown"))
            display = cid
        elif len(display) > COMPANY_NAME_MAX:
            problems.append(Problem(rec, "long-name", f"company name truncated to {COMPANY_NAME_MAX} chars"))
            display = display[:COMPANY_NAME_MAX]
        url = _url(company)
        if url is None or not 8 <= len(url) <= 2048 or not URL_RE.match(url):
            problems.append(
                Problem(rec, "bad-url", f"careers URL {url!r} is missing or not http(s); skipped")
            )
            continue
        ranked = sorted(trackers.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(ranked) > TRACKERS_MAX:
            problems.append(
                Problem(rec, "too-many-trackers", f"{len(ranked)} trackers; the top {TRACKERS_MAX} are kept")
            )
            ranked = ranked[:TRACKERS_MAX]
        desired = Desired(
            company=display,
            company_id=cid,
            url=url,
            rank=crd_rank(max(r for _, r in ranked)),
            trackers=tuple(sorted((u, crd_rank(r)) for u, r in ranked)),
            suspend=False,
        )
        emit(
            name,
            cid,
            existing,
            desired,
            "" if existing is None or not current_of(existing)["suspend"] else "tracked again",
        )

    # managed targets nobody tracks any more (or whose company is gone): suspend, keep the rest
    for cid, t in sorted(managed_by_cid.items()):
        if tracking.get(cid):
            continue
        name = str(t["metadata"]["name"])
        cur = current_of(t)
        gone = cid not in company_by_id
        if gone:
            problems.append(Problem(f"company {cid}", "deleted", f"company deleted; target {name} suspended"))
        if not cur["company"] or not cur["source.url"] or not COMPANY_ID.match(cid):
            problems.append(Problem(f"target {name}", "bad-target", "managed target lacks company or url"))
            continue
        desired = Desired(
            company=str(cur["company"]),
            company_id=cid,
            url=str(cur["source.url"]),
            rank=int(cur["rank"]) if _rank(cur["rank"]) is not None else 50,
            trackers=(),
            suspend=True,
        )
        emit(name, cid, t, desired, "company deleted" if gone else "nobody tracks it")
    return plan
