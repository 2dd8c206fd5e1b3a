"""`tokenusages` (src/models/TokenUsage.ts): one document per LLM call, in the fields the app's
TokenUsageService sums (`actualTokens`, `costEstimate.total`, by `userEmail`, `companyId`,
`operation`, `timestamp`).

As the app's JobMatchingContext writes them: `companyId` is the company's `companyID` slug (a String),
`actualTokens` = input + output, `estimatedTokens` the estimate made before the call. The operator's
own details (model, cached tokens, target, Job, user) are under `scoutly`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from scoutly.store import appschema
from scoutly.store.mongo import Database, Doc

COLLECTION = "tokenusages"
OPERATION = appschema.TokenOperation.DEEP_DIVE_ANALYSIS  # one posting read in full for one candidate


def usage_doc(
    *,
    process_id: str,
    estimated: int,
    prompt: int,
    completion: int,
    price_input: float,
    price_output: float,
    user_email: str,
    company_id: str,
    company_name: str,
    at: datetime,
    scoutly: dict[str, Any],
) -> Doc:
    """`price_*`: USD per million tokens (0: free usage, as the app's default)."""
    cost_in = prompt * price_input / 1_000_000
    cost_out = completion * price_output / 1_000_000
    doc: Doc = {
        "_id": ObjectId(),
        "processId": process_id,
        "timestamp": at,
        "operation": OPERATION.value,
        "estimatedTokens": estimated,
        "actualTokens": prompt + completion,
        "inputTokens": prompt,
        "outputTokens": completion,
        "costEstimate": {
            "input": cost_in,
            "output": cost_out,
            "total": cost_in + cost_out,
            "currency": "USD",
            "isFreeUsage": price_input == 0 and price_output == 0,
        },
        "userEmail": user_email,
        "companyId": company_id,
        "companyName": company_name,
        "createdAt": at,
        "updatedAt": at,
        "__v": 0,
        "scoutly": scoutly,
    }
    appschema.check(COLLECTION, doc)
    return doc


async def record(db: Database, doc: Doc) -> None:
    await db[COLLECTION].insert_one(doc)
