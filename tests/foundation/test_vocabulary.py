"""The delivery lifecycle has one vocabulary (`hanota.lifecycle`), and no other module of `src/hanota`
spells one of its words: a region, a request's or a quarantine entry's status, a device's outcome or state,
a distribution job's status, a CSP target's state, or the distribution id's prefix.

The check reads the source with `ast` (nothing is executed): a string constant that *is* one of the words
(`"sent"`), or SQL text that quotes one (`state = 'sent'`), outside `lifecycle.py` is a finding; so is
one of the device states quoted in a template of the SSI. Docstrings and columns' `doc=` texts are prose and
are not read. Words that
mean something else where they stand are listed in `HOMONYMS` with the reason, and an entry that no longer
matches anything fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest

import hanota
from hanota import lifecycle
from hanota.lifecycle import (
    DEVICE_TRANSITIONS,
    DISTRIBUTION_PREFIX,
    FAILED,
    FINAL,
    HUB_REGIONS,
    IN_FLIGHT,
    JOB_TRANSITIONS,
    REACHED,
    WAITING,
    DeviceState,
    JobStatus,
    Outcome,
    QuarantineStatus,
    Region,
    RequestStatus,
    TargetState,
    distribution_id,
    job_of,
    may_move,
)

SRC = Path(hanota.__file__).parent
VOCABULARIES: tuple[type[StrEnum], ...] = (
    Region, RequestStatus, QuarantineStatus, Outcome, DeviceState, JobStatus, TargetState,
)  # fmt: skip
WORDS: frozenset[str] = frozenset(
    {m.value for v in VOCABULARIES for m in v} | set(HUB_REGIONS) | {r.key for r in Region}
)
TEMPLATE_WORDS = frozenset(s.value for s in DeviceState)


@dataclass(frozen=True)
class Finding:
    where: str  # module path relative to src/hanota, or a template's
    line: int
    word: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.word!r}"


# (file relative to src/hanota, word) → why the word there is not the lifecycle's
HOMONYMS: dict[tuple[str, str], str] = {
    ("network/wan.py", "pending"): "a `Transfer` slot: targets with the image at their hub not yet picked up",
    ("alerts/states.py", "pending"): "an alert's delivery (`AlertDelivery`), not a distribution job's status",
    ("alerts/states.py", "dead"): "an alert's delivery (dead-lettered), not a distribution job's status",
    ("cli/ssi.py", "accepted"): "a column header of `hanota billing`: the requests accepted, counted",
    ("ssi/alert_pages.py", "queued"): "the audit detail of a redelivery: how many alerts were queued again",
    ("supplier/receiver.py", "rejected"): "the sample endpoint's count of alerts it refused, not a status",
}

# Files not yet moved onto the vocabulary (issue 14, item 2, under way); each leaves this set when it is.
NOT_YET: frozenset[str] = frozenset()


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the constant nodes that are prose: docstrings (a module's, a class's, a function's) and a
    column's `doc=` text."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "doc":
            found |= {id(n) for n in ast.walk(node.value) if isinstance(n, ast.Constant)}
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


_QUOTED = re.compile(r"'([A-Za-z0-9_ ]+)'")


def findings_in_source(source: str, where: str) -> Iterator[Finding]:
    """The lifecycle words one Python module spells."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docs:
            continue
        text = node.value
        if text in WORDS:
            yield Finding(where, node.lineno, text)
        elif DISTRIBUTION_PREFIX in text:
            yield Finding(where, node.lineno, DISTRIBUTION_PREFIX)
        else:
            for quoted in _QUOTED.findall(text):
                if quoted in WORDS:
                    yield Finding(where, node.lineno, quoted)


def findings_in_template(text: str, where: str) -> Iterator[Finding]:
    """The device states a Jinja template quotes (`s.get("transferred")`)."""
    for number, line in enumerate(text.splitlines(), 1):
        for word in re.findall(r"[\"']([a-z_]+)[\"']", line):
            if word in TEMPLATE_WORDS:
                yield Finding(where, number, word)


def all_findings() -> list[Finding]:
    found: list[Finding] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "lifecycle.py" or rel.startswith("db/migrations/"):
            continue  # the vocabulary itself; migrations keep the words as they were when written
        found += findings_in_source(path.read_text(encoding="utf-8"), rel)
    for path in sorted(SRC.rglob("templates/*.html")):
        found += findings_in_template(path.read_text(encoding="utf-8"), path.relative_to(SRC).as_posix())
    return found


def test_no_module_but_the_vocabulary_spells_a_lifecycle_word() -> None:
    """Every state, status, outcome, region and the distribution prefix comes from `hanota.lifecycle`."""
    found = [f for f in all_findings() if (f.where, f.word) not in HOMONYMS and f.where not in NOT_YET]
    assert not found, "lifecycle words spelled outside hanota/lifecycle.py:\n" + "\n".join(map(str, found))


def test_every_homonym_still_matches_something() -> None:
    """An excused word that is no longer there is taken off the list."""
    seen = {(f.where, f.word) for f in all_findings()}
    stale = sorted(set(HOMONYMS) - seen)
    assert not stale, f"HOMONYMS entries that match nothing: {stale}"
    done = sorted(NOT_YET - {f.where for f in all_findings()})
    assert not done, f"NOT_YET files that spell no lifecycle word any more: {done}"


def test_the_checker_finds_a_state_in_python_in_sql_and_in_a_template() -> None:
    """The check is not blind: a planted literal is found in each form it reads, and a docstring is not."""
    source = '''
"""A module about 'sent' things."""
def f():
    """Moves a device to "transferred"."""
    a = "sent"
    b = "UPDATE request_devices SET state = 'csp_rejected'"
    c = f"dsp-job-{a}"
    return a, b, c
'''
    found = [(f.line, f.word) for f in findings_in_source(source, "planted.py")]
    assert found == [(5, "sent"), (6, "csp_rejected"), (7, DISTRIBUTION_PREFIX)]
    template = '<span>{{ s.get("activated", 0) }}</span>\n<p>activated</p>'
    assert [(f.line, f.word) for f in findings_in_template(template, "t.html")] == [(1, "activated")]


def test_a_distribution_id_is_formatted_and_parsed_in_one_place() -> None:
    """`job_of` reads back what `distribution_id` writes, and names no job for anything else."""
    for job in (1, 12, 10**17):
        assert job_of(distribution_id(job)) == job
    for other in ("dsp-job-", "dsp-job-x1", "dsp-job-²", "dsp-job-" + "9" * 19, "job-12", "DSP-JOB-12"):
        assert job_of(other) is None, other


def test_the_device_lifecycle_is_a_tree_from_the_recorded_states() -> None:
    """Every state is reached from the recorded ones (accepted, rejected) by allowed moves, no move leads
    back, and the groups the SSI and the demo count are the states their names say."""
    reached = {DeviceState.ACCEPTED, DeviceState.REJECTED}
    frontier = list(reached)
    while frontier:
        for nxt in DEVICE_TRANSITIONS[frontier.pop()]:
            assert nxt not in reached, f"{nxt} reached twice: the lifecycle has a cycle or a join"
            reached.add(nxt)
            frontier.append(nxt)
    assert reached == set(DeviceState)
    assert set(FINAL) == {s for s in DeviceState if not DEVICE_TRANSITIONS[s]}
    assert set(IN_FLIGHT) == set(DeviceState) - set(FINAL)
    assert set(WAITING) < set(IN_FLIGHT)
    assert set(FAILED) <= set(FINAL) and DeviceState.ACTIVATED not in FAILED
    assert all(may_move(DeviceState.SENT, s) or s in REACHED for s in REACHED if s != DeviceState.ACTIVATED)
    assert may_move(DeviceState.SENT, DeviceState.TRANSFERRED)
    assert not may_move(DeviceState.ACTIVATED, DeviceState.SENT)


def test_a_job_only_leaves_dead_by_an_operators_retry_and_never_leaves_sent() -> None:
    """A sent job is final; a dead one only becomes pending again (an operator's retry); a claimed one may
    be dead-lettered."""
    assert JOB_TRANSITIONS[JobStatus.SENT] == frozenset()
    assert JOB_TRANSITIONS[JobStatus.DEAD] == {JobStatus.PENDING}
    assert JobStatus.DEAD in JOB_TRANSITIONS[JobStatus.SENDING]


@pytest.mark.parametrize("text", ["south", "South", " SOUTH "])
def test_a_region_is_read_in_any_case_and_keyed_in_lower_case(text: str) -> None:
    """A region's name is read whatever its case; its profile key is lower case; a 4G hub region maps to its
    geographic gateway and a gateway serves its own and its 4G hub region."""
    assert Region.parse(text) is Region.SOUTH
    assert Region.SOUTH.key == "south"
    assert lifecycle.gateway_region("4G South") == "South"
    assert lifecycle.hub_regions_of("South") == ("South", "4G South")


def test_an_unknown_region_is_refused() -> None:
    """A name that is no CSP region is refused with the names that are."""
    with pytest.raises(ValueError, match="unknown CSP region 'east'"):
        Region.parse("east")
