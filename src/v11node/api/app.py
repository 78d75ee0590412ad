"""HTTP routes of the node. The transaction path parses with orjson and validates with pydantic
by hand (not through FastAPI's body injection) to control size limits and error bodies."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v11node import NODE_NAME
from v11node.api.guards import LOOPBACK_PREFIXES, SECURITY_HEADERS, RateLimiter, client_address
from v11node.api.problems import JsonResponse, ProblemResponse, field_path, problem
from v11node.api.schemas import (
    Accepted,
    AccountOut,
    BlockOut,
    Problem,
    TransactionBatch,
    TransactionIn,
    TransactionStatus,
)
from v11node.api.stats import StatsCache
from v11node.ledger.transaction import MAX_MEMO_BYTES, Transaction
from v11node.node import Node

log = structlog.get_logger("v11node.api")
_BODY = TypeAdapter(TransactionIn | TransactionBatch)
_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": _PROBLEM_CONTENT}
    for code, text in {
        400: "Malformed request or bad signature",
        401: "Missing or wrong key",
        404: "Not found",
        409: "Transaction already submitted",
        413: "Body too large",
        422: "A field failed validation",
        429: "Rate limited",
        503: "Not ready, or the pending pool is full (Retry-After)",
    }.items()
}


def create_app(node: Node, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The node's app; `clock` drives the rate limiters (tests pass their own)."""
    app = FastAPI(
        title="Aurigraph V11 reference node",
        version=node.settings.release,
        openapi_url="/q/openapi",
        docs_url=None,
        redoc_url=None,
    )
    app.state.node = node
    _document_transaction_body(app)
    _install_error_handlers(app)
    _install_middleware(app, node, clock)
    _health_routes(app, node)
    _read_routes(app, node)
    _write_routes(app, node)
    return app


def _document_transaction_body(app: FastAPI) -> None:
    """The write route parses its body by hand; add the body and problem schemas to OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in (TransactionBatch, Problem):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- cross-cutting ---------------------------------------------------------------------------------
def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": field_path(tuple(e["loc"])), "message": str(e["msg"])} for e in exc.errors()
        ]
        return problem(422, "Invalid request", errors[0]["message"] if errors else "", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return problem(exc.status_code, "Request failed", str(exc.detail))


def _install_middleware(app: FastAPI, node: Node, clock: Callable[[], float]) -> None:
    """Outermost first: observe (metrics, security headers on every answer), CORS when
    configured (so that refusals carry its headers too), then the guards."""
    app.add_middleware(_GuardMiddleware, node=node, clock=clock)
    if node.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(node.settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key"],
            max_age=600,
        )
    app.add_middleware(_ObserveMiddleware, node=node)


class _ObserveMiddleware:
    """Per-request metrics (method, route template, status) and the security headers.

    Pure ASGI middlewares: Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`) runs
    every request through extra tasks and memory streams, which costs more than the handler."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app = app
        self.metrics = node.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_secured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_secured)
        except Exception:
            # Answered here rather than by Starlette's outer error handler, so that the 500
            # carries the security headers too.
            log.exception("request failed", method=scope["method"], path=scope["path"])
            if status:
                raise
            failed = problem(500, "Internal error", "the node could not answer; see its log")
            await failed(scope, receive, send_secured)
        finally:
            self._observe(scope, status or 500, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        uri = getattr(route, "path", None) or ("NOT_FOUND" if status == 404 else "?")
        self.metrics.http.labels(scope["method"], uri, str(status)).observe(
            time.perf_counter() - started
        )


API_KEY = "v11.api_key"  # scope entries: the name of the valid key the request presented
ADMIN_KEY = "v11.admin_key"


class _GuardMiddleware:
    """Header count and size, per-address and per-key rate limits, key checks, fault hooks.

    A key that is presented is checked here, on every /api and /admin route: a wrong one is
    refused (401) wherever it is sent. Whether a route *needs* a key is the route's decision
    (writes need an API key when keys are configured, /admin routes an admin key)."""

    def __init__(self, app: ASGIApp, node: Node, clock: Callable[[], float]) -> None:
        self.app = app
        self.metrics = node.metrics
        settings = node.settings
        self.settings = settings
        self.faults = settings.faults
        self.fault_hooks = bool(self.faults.latency_ms or self.faults.error_rate)
        self.rng = random.Random(0xA11)  # seeded: fault injection is repeatable run to run
        self.per_address = RateLimiter(settings.rate_limit_per_s, clock=clock)
        self.per_key = RateLimiter(settings.key_rate_limit_per_s, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._check(scope)
            if refusal is None and self.fault_hooks:
                refusal = await self._fault(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> Response | None:
        headers = scope["headers"]
        if len(headers) > self.settings.max_headers:
            return problem(
                431, "Too many headers", f"at most {self.settings.max_headers} header fields"
            )
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += sum(len(name) + len(value) for name, value in headers) + 4 * len(headers)
        if head > self.settings.max_header_bytes:
            limit = self.settings.max_header_bytes
            return problem(431, "Headers too large", f"request line and headers over {limit} bytes")
        if not scope["path"].startswith(("/api/", "/admin/")):
            return None
        request = Request(scope)
        if self.per_address.rate > 0 and (wait := self.per_address.wait_s(client_address(request))):
            return self._limited(wait, "per-client rate limit exceeded")
        settings = self.settings
        if settings.api_keys and (presented := request.headers.get("x-api-key")) is not None:
            name = settings.api_keys.match(presented)
            if name is None:
                return self._unauthorized("the X-API-Key header is not a valid API key")
            self.metrics.auth_success.inc()
            scope[API_KEY] = name
            if wait := self.per_key.wait_s(name):
                return self._limited(wait, "per-key rate limit exceeded")
        if settings.admin_keys and (presented := request.headers.get("x-admin-key")) is not None:
            name = settings.admin_keys.match(presented)
            if name is None:
                return self._unauthorized("the X-Admin-Key header is not a valid admin key")
            scope[ADMIN_KEY] = name
        return None

    def _limited(self, wait_s: float, detail: str) -> Response:
        self.metrics.rate_limited.inc()
        response = problem(429, "Too many requests", detail)
        response.headers["retry-after"] = str(max(1, math.ceil(wait_s)))
        return response

    def _unauthorized(self, detail: str) -> Response:
        self.metrics.auth_failures.inc()
        return problem(401, "Unauthorized", detail)

    async def _fault(self, scope: Scope) -> Response | None:
        if not scope["path"].startswith("/api/"):
            return None
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if self.faults.should_fail(self.rng):
            return problem(500, "Injected fault", "V11_FAULT_ERROR_RATE is set on this node")
        return None


# -- health and metrics ----------------------------------------------------------------------------
def _health(status: bool, checks: list[dict[str, Any]]) -> Response:
    body = {"status": "UP" if status else "DOWN", "checks": checks}
    return JsonResponse(body, status_code=200 if status else 503)


def _check(name: str, up: bool, **data: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "status": "UP" if up else "DOWN"}
    if data:
        out["data"] = data
    return out


def _health_routes(app: FastAPI, node: Node) -> None:
    async def readiness_checks() -> list[dict[str, Any]]:
        db_up, db_data = False, {"backend": node.metrics_backend()}
        if node.storage is not None and node.storage_ready:
            try:
                await asyncio.to_thread(node.storage.db_now_ms)
                db_up = True
            except Exception as exc:  # any driver failure means the database check is DOWN
                db_data["error"] = str(exc)
        producer = node.producer
        producer_up = producer is not None and producer.healthy
        return [
            _check("Database", db_up, **db_data),
            _check(
                "Block producer",
                producer_up,
                role="LEADER" if producer and producer.is_leader else "FOLLOWER",
                error=producer.last_error if producer and not producer_up else None,
            ),
            _check("Pending pool", True, pending=node.pending, **_pool_limit(node)),
            _check(
                "Serving",
                node.is_ready,
                draining=node.draining,
                faults=node.settings.faults.describe(),
            ),
        ]

    @app.get("/q/health/live", tags=["health"])
    async def live() -> Response:
        return _health(True, [_check("Event loop", True)])

    @app.get("/q/health/started", tags=["health"])
    async def started() -> Response:
        return _health(node.storage_ready, [_check("Storage opened", node.storage_ready)])

    @app.get("/q/health/ready", tags=["health"])
    async def ready() -> Response:
        checks = await readiness_checks()
        up = node.is_ready and all(c["status"] == "UP" for c in checks)
        node.metrics.ready.set(1 if up else 0)
        return _health(up, checks)

    @app.get("/q/health", tags=["health"])
    async def health() -> Response:
        checks = [_check("Event loop", True), *await readiness_checks()]
        return _health(all(c["status"] == "UP" for c in checks), checks)

    @app.get("/api/v11/health", tags=["health"])
    async def api_health() -> Response:
        return await ready()

    @app.get("/q/metrics", tags=["health"], response_class=Response)
    async def prometheus() -> Response:
        body = await asyncio.to_thread(generate_latest, node.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


# -- reads -----------------------------------------------------------------------------------------
def _hex_key(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise StarletteHTTPException(404, f"{what} {value!r} is not 64 hex characters")
    return raw


def _read_routes(app: FastAPI, node: Node) -> None:
    stats = StatsCache(node)

    def storage() -> Any:
        if node.storage is None or not node.storage_ready:
            raise StarletteHTTPException(503, "storage is not open yet")
        return node.storage

    @app.get("/api/v11/info", tags=["node"])
    async def info() -> dict[str, Any]:
        return {
            "name": NODE_NAME,
            "version": node.settings.release,
            "nodeId": node.settings.node_id,
            "uptimeSeconds": round(time.time() - node.started_at, 3),
            "storage": node.metrics_backend(),
            "ready": node.is_ready,
        }

    @app.get("/api/v11/stats", tags=["node"])
    async def get_stats() -> dict[str, Any]:
        return await stats.get(storage())

    @app.get(
        "/api/v11/transactions/{tx_hash}", response_model=TransactionStatus, responses=_PROBLEMS
    )
    async def get_transaction(tx_hash: str) -> dict[str, Any]:
        rec = await asyncio.to_thread(storage().get_transaction, _hex_key(tx_hash, "hash"))
        if rec is None:
            raise StarletteHTTPException(404, f"no transaction with hash {tx_hash}")
        return {
            "hash": rec.hash.hex(),
            "status": rec.status,
            "sender": rec.tx.sender.hex(),
            "recipient": rec.tx.recipient.hex(),
            "amount": rec.tx.amount,
            "nonce": rec.tx.nonce,
            "acceptedAt": rec.accepted_ms,
            "blockHeight": rec.block_height,
            "blockIndex": rec.block_index,
            "reason": rec.reason,
        }

    async def latest() -> dict[str, object]:
        block = await asyncio.to_thread(storage().latest_block)
        if block is None:
            raise StarletteHTTPException(404, "no blocks yet")
        body: dict[str, object] = block.to_json()
        return body

    async def by_height(height: int) -> dict[str, object]:
        if height < 0 or height > 2**62:
            raise StarletteHTTPException(404, f"no block at height {height}")
        block = await asyncio.to_thread(storage().get_block, height)
        if block is None:
            raise StarletteHTTPException(404, f"no block at height {height}")
        found: dict[str, object] = block.to_json()
        return found

    for prefix in ("/api/v11/blocks", "/api/v11/blockchain/blocks"):
        app.get(f"{prefix}/latest", response_model=BlockOut, responses=_PROBLEMS, tags=["chain"])(
            latest
        )
        app.get(
            f"{prefix}/{{height}}", response_model=BlockOut, responses=_PROBLEMS, tags=["chain"]
        )(by_height)
    app.get("/api/v11/blockchain/latest", response_model=BlockOut, tags=["chain"])(latest)

    @app.get("/api/v11/accounts/{address}", response_model=AccountOut, responses=_PROBLEMS)
    async def account(address: str) -> dict[str, Any]:
        addr = _hex_key(address, "address")
        found = await asyncio.to_thread(storage().get_accounts, [addr])
        balance, nonce = found.get(addr, (0, 0))
        return {"address": addr.hex(), "balance": balance, "nonce": nonce}

    @app.get("/api/v11/consensus/status", tags=["chain"])
    async def consensus() -> dict[str, Any]:
        st = storage()
        lease = await asyncio.to_thread(st.read_lease)
        nodes = await asyncio.to_thread(st.active_nodes, 5_000)
        tip = await asyncio.to_thread(st.latest_block)
        producer = node.producer
        return {
            "nodeId": node.settings.node_id,
            "role": "LEADER" if producer and producer.is_leader else "FOLLOWER",
            "epoch": lease.epoch,
            "currentTerm": lease.epoch,
            "leaderId": lease.holder,
            "commitHeight": tip.header.height if tip else 0,
            "commitIndex": tip.header.height if tip else 0,
            "validators": nodes,
        }

    @app.get("/api/v11/validators", tags=["chain"])
    async def validators() -> list[dict[str, object]]:
        return await asyncio.to_thread(storage().active_nodes, 5_000)


# -- writes ----------------------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes | Response:
    """The body, read chunk by chunk and never more than `limit` bytes of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _too_large(f"body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _too_large(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(detail: str) -> Response:
    # The rest of the body is not read: close the connection instead of draining it.
    response = problem(413, "Body too large", detail)
    response.headers["connection"] = "close"
    return response


def _parse_transactions(raw: bytes, max_batch: int) -> tuple[list[Transaction], bool] | Response:
    """The transactions, and whether they came as a batch (`{"transactions": [...]}`)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return problem(400, "Malformed JSON", f"the body is not valid JSON: {exc}")
    batch = doc.get("transactions") if isinstance(doc, dict) else None
    if isinstance(batch, list) and len(batch) > max_batch:
        return problem(413, "Batch too large", f"batch of {len(batch)}; at most {max_batch}")
    fast = _parse_fast(doc)
    if fast is not None:
        return fast, batch is not None
    try:
        parsed = _BODY.validate_python(doc)
    except ValidationError as exc:
        return _validation_problem(exc, doc)
    items = parsed.transactions if isinstance(parsed, TransactionBatch) else [parsed]
    txs: list[Transaction] = []
    for i, item in enumerate(items):
        if len(item.memo.encode()) > MAX_MEMO_BYTES:
            where = f"transactions[{i}].memo" if isinstance(parsed, TransactionBatch) else "memo"
            err = {"field": where, "message": f"at most {MAX_MEMO_BYTES} UTF-8 bytes"}
            return problem(422, "Invalid request", err["message"], [err])
        txs.append(
            Transaction(
                sender=bytes.fromhex(item.sender),
                recipient=bytes.fromhex(item.recipient),
                amount=item.amount,
                nonce=item.nonce,
                memo=item.memo,
                signature=bytes.fromhex(item.signature),
            )
        )
    return txs, isinstance(parsed, TransactionBatch)


_TX_KEYS = frozenset(("sender", "recipient", "amount", "nonce", "memo", "signature"))
_MAX_INT = 2**63 - 1


def _parse_fast(doc: object) -> list[Transaction] | None:
    """The common case without pydantic: a well-formed transaction or batch, checked against the
    same rules as the schemas (`TransactionIn`). Anything it does not accept, it hands back (None)
    to the pydantic path, which then names the field: the error responses are the pydantic ones."""
    if type(doc) is not dict:
        return None
    if len(doc) == 1 and "transactions" in doc:
        items = doc["transactions"]
        if type(items) is not list or not items:
            return None
    else:
        items = [doc]
    txs: list[Transaction] = []
    append = txs.append
    fromhex = bytes.fromhex
    for item in items:
        if type(item) is not dict or not item.keys() <= _TX_KEYS:
            return None
        try:
            sender, recipient, amount = item["sender"], item["recipient"], item["amount"]
            nonce, signature = item["nonce"], item["signature"]
        except KeyError:
            return None
        memo = item.get("memo", "")
        if (
            type(sender) is not str
            or type(recipient) is not str
            or type(signature) is not str
            or type(amount) is not int
            or type(nonce) is not int
            or type(memo) is not str
            or len(sender) != 64
            or len(recipient) != 64
            or len(signature) != 128
            or not 0 < amount <= _MAX_INT
            or not 0 < nonce <= _MAX_INT
            or len(memo) > MAX_MEMO_BYTES
            or (memo and len(memo.encode()) > MAX_MEMO_BYTES)
        ):
            return None
        try:  # bytes.fromhex skips whitespace: the lengths below reject it, as the pattern does
            sender_b, recipient_b, sig_b = fromhex(sender), fromhex(recipient), fromhex(signature)
        except ValueError:
            return None
        if len(sender_b) != 32 or len(recipient_b) != 32 or len(sig_b) != 64:
            return None
        append(Transaction(sender_b, recipient_b, amount, nonce, memo, sig_b))
    return txs


def _validation_problem(exc: ValidationError, doc: object) -> ProblemResponse:
    # The union makes pydantic report both branches; keep the branch the client meant.
    batch = isinstance(doc, dict) and "transactions" in doc
    errors = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if loc and loc[0] in ("TransactionIn", "TransactionBatch"):
            if (loc[0] == "TransactionBatch") != batch:
                continue
            loc = loc[1:]
        errors.append({"field": field_path(loc), "message": str(e["msg"])})
    if not errors:
        errors = [{"field": "body", "message": "expected a transaction or {transactions: [...]}"}]
    return problem(422, "Invalid request", f"{errors[0]['field']}: {errors[0]['message']}", errors)


def _pool_limit(node: Node) -> dict[str, Any]:
    """The pool's bound for the health check; it stays UP when full (reads are still served)."""
    limit = node.settings.max_pending
    return {"limit": limit, "full": node.pool_full} if limit else {}


def _pool_full(node: Node) -> Response | None:
    if not node.pool_full:
        return None
    node.metrics.pool_full.inc()
    response = problem(
        503,
        "Pending pool full",
        f"{node.pending} transactions are waiting for a block"
        f" (limit {node.settings.max_pending}); retry shortly",
    )
    response.headers["retry-after"] = "1"
    return response


def _write_routes(app: FastAPI, node: Node) -> None:
    settings = node.settings

    @app.post(
        "/api/v11/transactions",
        status_code=202,
        response_model=Accepted,
        responses=_PROBLEMS,
        tags=["transactions"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/TransactionIn"},
                                {"$ref": "#/components/schemas/TransactionBatch"},
                            ]
                        }
                    }
                },
            }
        },
    )
    async def submit(request: Request) -> Response:
        """Submit one signed transaction or a batch. 202 means stored durably. A transaction that
        was already submitted (the same signed transfer) is not stored again: alone, or when the
        whole batch is, 409; in a batch with new ones, 202 with it listed under `duplicates`."""
        if settings.api_keys and API_KEY not in request.scope:
            node.metrics.auth_failures.inc()
            return problem(401, "Unauthorized", "a valid X-API-Key header is required")
        if not node.storage_ready:
            return problem(503, "Not ready", "storage is not open yet")
        if full := _pool_full(node):
            return full
        raw = await _read_body(request, settings.max_body_bytes)
        if isinstance(raw, Response):
            return raw
        parsed = _parse_transactions(raw, settings.max_batch)
        if isinstance(parsed, Response):
            return parsed
        txs, batch = parsed
        messages = [t.signing_bytes() for t in txs]
        bad = await node.verify_all(txs, messages)
        if bad:
            node.metrics.signature_failures.inc(len(bad))
            fields = [{"field": f"transactions[{i}].signature", "message": "invalid"} for i in bad]
            return problem(400, "Bad signature", f"{len(bad)} signature(s) do not verify", fields)
        hashes, new = await node.accept(txs, messages)
        return _accepted(hashes, new, batch)

    @app.post("/admin/v11/producer/yield", tags=["admin"])
    async def producer_yield(request: Request) -> Response:
        """Hand the producer lease over (used before a blue-green switch)."""
        if settings.admin_keys:
            if ADMIN_KEY not in request.scope:
                return _admin_refusal(request, node)
        elif not is_direct_loopback_call(request):
            return problem(
                403,
                "Forbidden",
                "without an admin key, admin routes answer only direct loopback calls",
            )
        if node.producer is None:
            return problem(503, "Not ready", "the producer has not started")
        return JsonResponse(await node.producer.yield_lease())


def _accepted(hashes: list[bytes], new: list[bool], batch: bool) -> Response:
    """202 listing what was stored now; 409 when nothing was (every transaction a replay)."""
    if all(new):
        body = {"count": len(hashes), "hashes": [h.hex() for h in hashes]}
        return JsonResponse(body, status_code=202)
    pairs = list(zip(hashes, new, strict=True))
    duplicates = [{"index": i, "hash": h.hex()} for i, (h, n) in enumerate(pairs) if not n]
    if any(new):
        stored = [h.hex() for h, n in pairs if n]
        body = {"count": len(stored), "hashes": stored, "duplicates": duplicates}
        return JsonResponse(body, status_code=202)
    fields = [
        {
            "field": f"transactions[{d['index']}]" if batch else "body",
            "message": f"transaction {d['hash']} was already submitted",
        }
        for d in duplicates
    ]
    detail = f"{len(duplicates)} transaction(s) already submitted; none stored again"
    return problem(409, "Duplicate transaction", detail, fields)


def _admin_refusal(request: Request, node: Node) -> Response:
    node.metrics.auth_failures.inc()
    if API_KEY in request.scope:
        return problem(403, "Forbidden", "an API key is not an admin key: send X-Admin-Key")
    return problem(401, "Unauthorized", "a valid X-Admin-Key header is required")


def is_direct_loopback_call(request: Request) -> bool:
    """A caller on this host that did not come through a proxy.

    Behind the router (or nginx) every request arrives from loopback, so the peer address alone
    would let any client reach /admin; a proxy always adds X-Forwarded-For, a direct call does not.
    """
    host = request.client.host if request.client else ""
    return host.startswith(LOOPBACK_PREFIXES) and "x-forwarded-for" not in request.headers
