"""Who performs a command: passed in explicitly, never read from a web session."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def system(cls, component: str) -> Actor:
        """The engine itself acting (timer sweep, job worker), named by component."""
        return cls(name=f"system:{component}", roles=frozenset({"system"}))
