"""A concurrent HTTP client: C workers share a list of request plans, each plan a GET (and,
for keyset walks, the pages that follow its `Link` header). Latency per request, client side,
`time.perf_counter()` around the whole request including reading the body."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench.common import credentials

LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class Plan:
    path: str
    params: dict[str, str]
    follow_pages: int = 0  # how many `Link: rel="next"` pages to fetch after the first


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0
    pages_followed: int = 0
    wall_seconds: float = 0.0
    plans_skipped: int = 0  # not started because the time budget ran out


def run_plans(base_url: str, plans: Sequence[Plan], concurrency: int,
              timeout: float = 60.0, budget_s: float = 120.0) -> LoadResult:
    """Workers stop taking new plans once `budget_s` has passed (counted as skipped)."""
    return asyncio.run(_run(base_url, plans, concurrency, timeout, budget_s))


async def _run(base_url: str, plans: Sequence[Plan], concurrency: int,
               timeout: float, budget_s: float) -> LoadResult:
    result = LoadResult()
    queue: asyncio.Queue[Plan] = asyncio.Queue()
    for plan in plans:
        queue.put_nowait(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits,
                                 headers=credentials.HEADERS) as client:
        started = time.perf_counter()
        deadline = started + budget_s
        await asyncio.gather(*(_worker(client, queue, result, deadline)
                               for _ in range(concurrency)))
        result.wall_seconds = time.perf_counter() - started
        result.plans_skipped = queue.qsize()
    return result


async def _worker(client: httpx.AsyncClient, queue: asyncio.Queue[Plan],
                  result: LoadResult, deadline: float) -> None:
    while not queue.empty() and time.perf_counter() < deadline:
        plan = queue.get_nowait()
        url: str | None = plan.path
        params: dict[str, str] | None = plan.params
        for page in range(plan.follow_pages + 1):
            if url is None:
                break
            began = time.perf_counter()
            try:
                response = await client.get(url, params=params)
                body = response.json()
            except (httpx.HTTPError, ValueError) as error:
                result.errors.append(f"{type(error).__name__}: {error}")
                break
            result.latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                result.errors.append(f"HTTP {response.status_code} for {response.url}")
                break
            result.rows += len(body)
            if page:
                result.pages_followed += 1
            match = LINK_NEXT.search(response.headers.get("link", ""))
            url, params = (match.group(1), None) if match else (None, None)
