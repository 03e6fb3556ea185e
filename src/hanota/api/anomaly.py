"""The anomaly-detection JSON API under ``/api/v1/anomaly``: thresholds, DCC policies, quarantine decisions,
the audit trail. A thin layer over `hanota.anomaly` (which the web SSI calls directly).

Authentication: ``Authorization: Bearer <token>``. Tokens are issued per User by a DCC operator with
``hanota thresholds token EUI`` (shown once; only a SHA-256 is stored) and act with that User's rights: a
User reads and sets its own thresholds and sees its own quarantined requests; a DCC operator (role DCC)
does everything, including releasing and deleting quarantined requests and changing DCC policies. No or an
unknown token → 401; a known token acting beyond its rights → 403; a value outside the DCC's bounds → 422;
a decision already taken → 409. Every change is audited with the token's User as the actor.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the route annotations at runtime, and
# they name dependency aliases (`Who`, `Operator`) local to `anomaly_router`.
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection

from hanota.anomaly import audit, counting, quarantine, thresholds
from hanota.anomaly.access import Actor, authenticate
from hanota.anomaly.errors import AnomalyError, NotPermitted
from hanota.lifecycle import QuarantineStatus

if TYPE_CHECKING:
    from hanota.bootstrap import AppContext

PREFIX = "/api/v1/anomaly"
T = TypeVar("T")
#: the `status` of a quarantine listing: one of `QuarantineStatus`, or all of them
QUARANTINE_STATUS_PATTERN = f"^({'|'.join(QuarantineStatus)}|all)$"
Count = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it at the door (422) rather than fail in the store (500)."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


Reason = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]
EventRef = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_requests: Count | None = None
    max_devices: Count | None = None
    window_hours: Annotated[StrictInt, Field(ge=1, le=168)] = thresholds.DEFAULT_WINDOW_HOURS
    reason: Reason = ""


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Count | None]
    reason: Reason


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


def _fail(e: AnomalyError) -> HTTPException:
    return HTTPException(status_code=e.http_status, detail=e.message)


def _no_nul_params(request: Request) -> None:
    """Path and query strings with a NUL character are 400 (the store cannot compare them)."""
    values = [*request.path_params.values(), *request.query_params.keys(), *request.query_params.values()]
    if any("\x00" in str(v) for v in values):
        raise HTTPException(400, "NUL characters are not allowed in the path or query")


def anomaly_router(ctx: "AppContext") -> APIRouter:
    """The router, bound to the app's store, clock and DSP (for releasing requests)."""
    router = APIRouter(prefix=PREFIX, tags=["anomaly detection"], dependencies=[Depends(_no_nul_params)])
    bearer = HTTPBearer(auto_error=False, description="a token from `hanota thresholds token EUI`")

    @contextmanager
    def tx() -> Iterator[Connection]:
        try:
            with ctx.engine.begin() as conn:
                yield conn
        except AnomalyError as e:
            raise _fail(e) from e

    def who(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        with ctx.engine.connect() as conn:
            found = authenticate(conn, creds.credentials)
        if found is None:
            raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
        return found

    Who = Annotated[Actor, Depends(who)]

    def operator(a: Who) -> Actor:
        if not a.operator:
            raise _fail(NotPermitted(f"{a.eui} is not a DCC operator"))
        return a

    Operator = Annotated[Actor, Depends(operator)]

    def self_or_operator(a: Actor, user_eui: str) -> None:
        if a.eui != user_eui and not a.operator:
            raise _fail(NotPermitted(f"{a.eui} may not see or change {user_eui}"))

    def run(work: Callable[[Connection], T]) -> T:
        with tx() as conn:
            return work(conn)

    @router.get("/me", summary="who the token acts as")
    def me(a: Who) -> dict[str, Any]:
        return {"eui": a.eui, "roles": sorted(a.roles), "operator": a.operator}

    @router.get("/thresholds/{user_eui}", summary="the thresholds that apply to a User, per SRV, with usage")
    def get_thresholds(user_eui: str, a: Who) -> dict[str, Any]:
        self_or_operator(a, user_eui)
        now = ctx.clock.now()

        def work(conn: Connection) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for srv, t in thresholds.effective_thresholds(conn, user_eui).items():
                used = counting.window_usage(conn, user_eui, srv, t.window_hours, now)
                out[srv] = {**asdict(t), "guarded": t.guarded, "used": asdict(used)}
            return out

        return run(work)

    @router.put("/thresholds/{user_eui}/{srv}", summary="set a User's own threshold (within the DCC bounds)")
    def put_threshold(user_eui: str, srv: str, body: ThresholdIn, a: Who) -> dict[str, Any]:
        self_or_operator(a, user_eui)
        t = run(
            lambda conn: thresholds.set_user_threshold(
                conn,
                user_eui=user_eui,
                srv=srv,
                max_requests=body.max_requests,
                max_devices=body.max_devices,
                window_hours=body.window_hours,
                actor_eui=a.eui,
                reason=body.reason,
                now=ctx.clock.now(),
            )
        )
        return asdict(t)

    @router.delete("/thresholds/{user_eui}/{srv}", summary="remove a User's own threshold (default applies)")
    def delete_threshold(
        user_eui: str, srv: str, a: Who, reason: Annotated[str, Query(max_length=2000)] = ""
    ) -> dict[str, Any]:
        self_or_operator(a, user_eui)
        t = run(
            lambda conn: thresholds.clear_user_threshold(
                conn, user_eui=user_eui, srv=srv, actor_eui=a.eui, reason=reason, now=ctx.clock.now()
            )
        )
        return asdict(t)

    @router.get("/policies", summary="the DCC's policy per SRV: defaults, bounds, DCC-wide, attribute limits")
    def get_policies(a: Who) -> list[dict[str, Any]]:
        return [asdict(p) for p in run(thresholds.dcc_policies)]

    @router.put("/policies/{srv}", summary="change fields of an SRV's DCC policy (operator)")
    def put_policy(srv: str, body: PolicyIn, op: Operator) -> dict[str, Any]:
        p = run(
            lambda conn: thresholds.set_dcc_policy(
                conn,
                srv=srv,
                changes=body.changes,
                operator_eui=op.eui,
                reason=body.reason,
                now=ctx.clock.now(),
            )
        )
        return asdict(p)

    @router.delete("/policies/{srv}", summary="back to the code default policy (operator)")
    def delete_policy(
        srv: str, op: Operator, reason: Annotated[str, Query(max_length=2000)]
    ) -> dict[str, Any]:
        p = run(
            lambda conn: thresholds.reset_dcc_policy(
                conn, srv=srv, operator_eui=op.eui, reason=reason, now=ctx.clock.now()
            )
        )
        return asdict(p)

    @router.get("/quarantine", summary="quarantined requests (a User sees only its own)")
    def get_quarantine(
        a: Who,
        status: Annotated[str, Query(pattern=QUARANTINE_STATUS_PATTERN)] = QuarantineStatus.QUARANTINED.value,
        user_eui: str | None = None,
        srv: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ) -> list[dict[str, Any]]:
        if not a.operator:
            if user_eui not in (None, a.eui):
                raise _fail(NotPermitted(f"{a.eui} may not see the requests of {user_eui}"))
            user_eui = a.eui
        entries = run(
            lambda conn: quarantine.list_quarantined(
                conn,
                user_eui=user_eui,
                status=None if status == "all" else status,
                srv=srv,
                limit=limit,
                offset=offset,
            )
        )
        return [asdict(e) for e in entries]

    @router.get("/quarantine/{event_ref}", summary="one quarantined request")
    def get_one(event_ref: EventRef, a: Who) -> dict[str, Any]:
        e = run(lambda conn: quarantine.get_quarantined(conn, event_ref))
        self_or_operator(a, e.originator_eui)
        return asdict(e)

    @router.post("/quarantine/{event_ref}/release", summary="process it as if just received (operator)")
    def post_release(event_ref: EventRef, body: DecisionIn, op: Operator) -> dict[str, Any]:
        d = run(
            lambda conn: quarantine.release(
                conn,
                ctx.dsp,
                event_ref=event_ref,
                operator_eui=op.eui,
                reason=body.reason,
                now=ctx.clock.now(),
            )
        )
        return asdict(d)

    @router.post("/quarantine/{event_ref}/delete", summary="never process it; the User is told (operator)")
    def post_delete(event_ref: EventRef, body: DecisionIn, op: Operator) -> dict[str, Any]:
        d = run(
            lambda conn: quarantine.delete(
                conn,
                ctx.dsp,
                event_ref=event_ref,
                operator_eui=op.eui,
                reason=body.reason,
                now=ctx.clock.now(),
            )
        )
        return asdict(d)

    @router.get("/audit", summary="the audit trail, newest first (operator)")
    def get_audit(
        op: Operator,
        target: str | None = None,
        actor_eui: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        return [
            asdict(e)
            for e in run(lambda conn: audit.list_audit(conn, target=target, actor_eui=actor_eui, limit=limit))
        ]

    return router
