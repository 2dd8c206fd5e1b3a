"""Local stand-ins for the outside world of a scrape, for `make demo` and the e2e tests: a Greenhouse
Job Board API (GET /v1/boards/{board}/jobs, the service's real shape) with realistic postings, and an
OpenAI-compatible chat-completions server that scores postings by keywords. Pods on the real node reach
them on the node's bridge address. aiohttp comes with kopf."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "sk-demo"

# (title, department, location, workplace label, what the team does)
_ROLES = {
    "acme": [
        ("Senior Backend Engineer (Python)", "Engineering", "Berlin", "Hybrid", "the order pipeline in Python and PostgreSQL"),
        ("Platform Engineer, Kubernetes", "Infrastructure", "Remote - EMEA", "Remote", "our Kubernetes platform and its operators"),
        ("Data Engineer", "Data", "Amsterdam", "Hybrid", "batch and streaming pipelines on Kafka"),
        ("Frontend Developer (React)", "Engineering", "Berlin", "On-site", "the customer dashboard in React and TypeScript"),
        ("Account Executive DACH", "Sales", "Munich", "On-site", "new business with mid-market customers"),
        ("Engineering Manager, Payments", "Engineering", "Berlin", "Hybrid", "a team of six building payment flows"),
    ],
    "globex": [
        ("Site Reliability Engineer", "Infrastructure", "Remote - Europe", "Remote", "on-call, SLOs and capacity planning"),
        ("Backend Developer (Go)", "Engineering", "Lisbon", "Hybrid", "high-throughput APIs in Go"),
        ("Product Designer", "Design", "Lisbon", "Hybrid", "research and design for the mobile app"),
        ("Customer Success Manager", "Customer Success", "Dublin", "On-site", "onboarding our enterprise accounts"),
    ],
    "initech": [
        ("Python Developer, Reporting", "Engineering", "Austin", "Hybrid", "the TPS reporting service in Python"),
        ("IT Support Specialist", "IT", "Austin", "On-site", "laptops, printers and the help desk"),
        ("Staff Software Engineer", "Engineering", "Remote - US", "Remote", "the architecture of our core platform"),
    ],
}  # fmt: skip


def greenhouse_jobs(board: str) -> list[dict[str, Any]]:
    """The board's postings as GET /v1/boards/{board}/jobs?content=true returns them."""
    jobs = []
    for i, (title, dept, location, workplace, what) in enumerate(_ROLES.get(board, [])):
        job_id = 4_100_000 + 1000 * len(board) + i
        content = (
            f"<h2>About the role</h2><p>You will own {what}. We are a {len(board) * 40}-person company "
            f"with teams across Europe.</p><h3>What you bring</h3><ul><li>Experience with {what.split()[-1]}</li>"
            "<li>Clear written communication</li></ul><p>Salary range shared in the first call.</p>"
        )
        jobs.append(
            {
                "id": job_id,
                "internal_job_id": job_id - 1_000_000,
                "title": title,
                "updated_at": f"2026-11-{10 + i:02d}T09:30:00-05:00",
                "first_published": f"2026-10-{20 + i:02d}T14:00:00-05:00",
                "location": {"name": location},
                "absolute_url": f"https://boards.greenhouse.io/{board}/jobs/{job_id}",
                "content": html.escape(content),  # Greenhouse entity-escapes its HTML
                "departments": [{"id": 10 + i, "name": dept}],
                "offices": [{"id": 20 + i, "name": location.split(" - ")[0]}],
                "metadata": [
                    {"id": 1, "name": "Workplace Type", "value": workplace, "value_type": "single_select"}
                ],
            }
        )
    return jobs


def chat_completion(
    call_id: str, model: str, answer: dict[str, Any], usage: dict[str, Any]
) -> dict[str, Any]:
    """An OpenAI chat.completion body whose message is `answer` as JSON (structured output), as the real
    API sends it; shared by the demo's LLM and the tests' fakes."""
    return {
        "id": call_id,
        "object": "chat.completion",
        "created": 1760000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": json.dumps(answer), "refusal": None},
            }
        ],
        "usage": usage,
    }


@dataclass
class Boards:
    """Served boards; `delay` holds a board's answer that long (a scrape to be killed mid-way)."""

    boards: tuple[str, ...] = ("acme", "globex")
    delay: dict[str, float] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def app(self) -> web.Application:
        async def jobs(request: web.Request) -> web.Response:
            board = request.match_info["board"]
            self.hits[board] = self.hits.get(board, 0) + 1
            if board in self.delay:
                await asyncio.sleep(self.delay[board])
            if board not in self.boards:
                # the real API's answer for an unknown board
                return web.json_response({"status": 404, "error": "Job not found"}, status=404)
            found = greenhouse_jobs(board)
            return web.json_response({"jobs": found, "meta": {"total": len(found)}})

        app = web.Application()
        app.router.add_get("/v1/boards/{board}/jobs", jobs)
        return app


@dataclass
class FakeLLM:
    """POST /v1/chat/completions with structured output: engineering roles score high, others low."""

    calls: int = 0

    def app(self) -> web.Application:
        async def chat(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {API_KEY}":
                return web.json_response(
                    {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}},
                    status=401,
                )  # fmt: skip
            body = await request.json()
            self.calls += 1
            posting = str(body["messages"][-1]["content"])
            score = 84 if any(w in posting for w in ("Engineer", "Developer", "Reliability")) else 25
            answer = {
                "score": score,
                "verdict": "strong" if score >= 75 else "weak",
                "reasons": ["role matches the career goals" if score >= 75 else "different role family"],
            }
            prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4
            usage = {"prompt_tokens": prompt, "completion_tokens": 20, "total_tokens": prompt + 20}
            return web.json_response(chat_completion(f"chatcmpl-{self.calls}", body["model"], answer, usage))

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        return app


@asynccontextmanager
async def serve(app: web.Application, host: str) -> AsyncIterator[str]:
    """Run `app` on a free port of `host`; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
