"""Rows of the benchmark table, their goals, and whether each goal is met."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    """What a row must show.

    kind "ratio": ours / peer <= limit; "floor_plus": ours - peer <= limit (in the row's unit);
    "record": nothing to meet, the figure is recorded.
    """

    kind: str
    peer: str | None = None
    limit: float = 0.0
    unit: str = ""

    @property
    def text(self) -> str:
        if self.kind == "ratio":
            return f"<= {self.limit:.2f}x {self.peer}"
        if self.kind == "floor_plus":
            return f"<= {self.peer} + {self.limit:g} {self.unit}"
        return "recorded"


@dataclass
class Row:
    benchmark: str
    unit: str
    ours: float | None
    peers: dict[str, float | None] = field(default_factory=dict)
    goal: Goal = field(default_factory=lambda: Goal("record"))
    note: str = ""
    # Paired ratios ours/peer (ci/bench/timing.Figures.ratio) where the row has them; they
    # take the place of ours / peer's median, which a burst of load on one side can skew.
    paired: dict[str, float | None] = field(default_factory=dict)
    # The CPython version the row ran on ("3.14"); "" for rows that do not run Python (C,
    # harness). Goals are evaluated per row, hence per version.
    python: str = ""
    # Why the row has no figures ("" when it was measured): its status is then "not
    # measured" and its goal counts as not met.
    unmeasured: str = ""

    def ratio(self, peer: str) -> float | None:
        if self.paired.get(peer) is not None:
            return self.paired[peer]
        value = self.peers.get(peer)
        if self.ours is None or not value:
            return None
        return self.ours / value

    @property
    def goal_met(self) -> bool | None:
        """True/False for a goal with figures on both sides; None for recorded rows, and False
        when a figure the goal needs is missing (a missing figure never counts as met)."""
        g = self.goal
        if self.unmeasured and g.kind != "record":
            return False
        if g.kind == "record":
            return None
        peer_value = self.peers.get(g.peer or "")
        if self.ours is None or peer_value is None:
            return False
        if g.kind == "ratio":
            return self.ratio(g.peer) <= g.limit
        return self.ours - peer_value <= g.limit

    @property
    def status(self) -> str:
        if self.unmeasured:
            return "not measured"
        met = self.goal_met
        if met is None:
            return "recorded" if self.ours is not None else "not measured"
        if self.ours is None:
            return "MISSING"
        return "met" if met else "MISSED"

    def json_objects(self) -> list[dict]:
        """One object per peer (one with peer None for a row without peers)."""
        base = {
            "benchmark": self.benchmark,
            "python": self.python or None,
            "unit": self.unit,
            "ours": _round(self.ours),
        }
        extra = {
            "goal": self.goal.text,
            "goal_met": self.goal_met,
            "note": self.note,
            "not_measured": self.unmeasured or None,
        }
        if not self.peers:
            return [{**base, "peer": None, "peer_value": None, "ratio": None, **extra}]
        return [
            {
                **base,
                "peer": peer,
                "peer_value": _round(value),
                "ratio": _round(self.ratio(peer), 3),
                **extra,
            }
            for peer, value in self.peers.items()
        ]


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
