"""Version profiles: every feature gate is derived from the version numbers.

Any version string is accepted ("8.20.0", "10.3.19", "9.12", "10.3.0-m0001": the numbers
it starts with); the gates follow reference jira-server.md §0 items 3 and 7 and §3.1
(build numbers look like ``10030019`` for 10.3.19).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LEADING = re.compile(r"(\d+(?:\.\d+)*)")

#: Build dates are invented but stable per major line (shape as in reference §3.1).
_BUILD_DATES = {
    7: "2019-01-10T00:00:00.000+0000",
    8: "2022-02-03T00:00:00.000+0000",
    9: "2023-12-05T00:00:00.000+0000",
    10: "2025-01-14T00:00:00.000+0000",
    11: "2025-10-21T00:00:00.000+0000",
}


@dataclass(frozen=True)
class VersionProfile:
    version: str
    numbers: tuple[int, int, int]

    @classmethod
    def parse(cls, version: str) -> VersionProfile:
        # The numbers the text starts with; a suffix ("-m0001", "-rc1") is not one.
        found = _LEADING.match(str(version))
        if found is None:
            raise ValueError(f"not a Jira version: {version!r}")
        parts = [int(n) for n in found.group(1).split(".")[:3]]
        while len(parts) < 3:
            parts.append(0)
        return cls(version=".".join(str(p) for p in parts), numbers=tuple(parts))

    @property
    def build_number(self) -> int:
        """Observed shapes: 8.5.3 → 805003, 10.3.19 → 10030019 (reference §3.1)."""
        major, minor, patch = self.numbers
        if major >= 10:
            return major * 1_000_000 + minor * 10_000 + patch
        return major * 100_000 + minor * 1_000 + patch

    @property
    def build_date(self) -> str:
        return _BUILD_DATES.get(self.numbers[0], "2024-06-01T00:00:00.000+0000")

    # Feature gates -------------------------------------------------------------
    @property
    def has_paginated_createmeta(self) -> bool:
        """``createmeta/{project}/issuetypes[/{id}]`` appeared in 8.4 (reference §3.7)."""
        return self.numbers >= (8, 4, 0)

    @property
    def has_old_createmeta(self) -> bool:
        """All-projects ``issue/createmeta`` was removed in 9.0 (reference §0 item 7)."""
        return self.numbers < (9, 0, 0)

    @property
    def has_oauth2_provider(self) -> bool:
        """Incoming OAuth 2.0 links exist from 8.22 (reference §2)."""
        return self.numbers >= (8, 22, 0)

    @property
    def has_rate_limiting(self) -> bool:
        """Rate limiting is a Data Center 8.6+ feature (reference §3.11)."""
        return self.numbers >= (8, 6, 0)

    @property
    def signs_webhooks(self) -> bool:
        """Jira DC 10 signs deliveries of webhooks given a secret (HMAC-SHA256 in
        ``X-Hub-Signature: sha256=<hex>``, Atlassian "Managing webhooks", DC docs; see
        docs/jira-server.md §9 "Signed webhooks")."""
        return self.numbers >= (10, 0, 0)

    @property
    def async_webhooks(self) -> bool:
        """From 10.0 webhooks are delivered asynchronously only ("Async webhooks are now
        default in Jira Data Center"); 9 and older inside the changing user's request."""
        return self.numbers >= (10, 0, 0)

    @property
    def basic_auth_off_by_default(self) -> bool:
        """Jira 11 ships with basic authentication turned off (reference §6 item 17)."""
        return self.numbers >= (11, 0, 0)
