"""Rule engines: what gives a verdict on a message for an engine rule (docs/rule-engines.md).

``Engines.ask`` speaks Lockgate's own webhook contract (``webhook``) or a managed service's API
(``lakera``, ``bedrock``, ``model_armor``, ``prompt_shields``), through the egress guard, bounded in
time and size; ``settings.check`` is the one validation of an engine definition.
"""

from lockgate.engines.client import Adapter, Engines, EngineTest
from lockgate.engines.http import EngineFailure
from lockgate.engines.settings import EngineDefinitionError, check

__all__ = ["Adapter", "EngineDefinitionError", "EngineFailure", "EngineTest", "Engines", "check"]
