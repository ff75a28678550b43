"""Screening of discovered feature definitions: pure functions from a definition to findings.

Issue 11 item 3. Run whenever the catalog learns a new or changed definition::

    neighbours = Neighbours.of(other_feature_names, other_server_names)
    findings = screen_feature(FeatureKind.TOOL, tool_definition, neighbours)
    if withholds(findings): ...   # a high finding withholds the feature until an admin approves it

Each ``Finding`` has a ``Kind`` (what), a ``Severity`` (``high`` withholds; ``medium`` and ``low`` are
recorded), the feature, a location in the definition, the rule that fired and a short evidence quote.
The kinds, and the module that documents each with its sources:

- ``hidden_instructions``, ``secret_request``, ``cross_server_shadowing`` (phrases): ``instructions``;
- ``parameter_exfiltration``: ``parameters``;
- ``deceptive_unicode``: ``characters``;
- ``mimicry`` and ``cross_server_shadowing`` (by name): ``names``;
- ``oversized``: ``texts`` (its bounds are the named constants there).

Nothing is downloaded at run time: the confusables data is the ``disarm`` package's copy of Unicode's
``confusables.txt`` (``disarm.CONFUSABLES_VERSION``).
"""

from lockgate.policy.screening.findings import FeatureRef, Finding, Kind, Severity, withholds
from lockgate.policy.screening.names import NO_NEIGHBOURS, Neighbours
from lockgate.policy.screening.screen import (
    combine,
    screen_content,
    screen_feature,
    screen_names,
    screen_server_name,
)
from lockgate.policy.screening.texts import MAX_DEFINITION_BYTES, oversized_definition

__all__ = [
    "MAX_DEFINITION_BYTES",
    "NO_NEIGHBOURS",
    "FeatureRef",
    "Finding",
    "Kind",
    "Neighbours",
    "Severity",
    "combine",
    "oversized_definition",
    "screen_content",
    "screen_feature",
    "screen_names",
    "screen_server_name",
    "withholds",
]
