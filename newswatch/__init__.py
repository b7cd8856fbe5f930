"""newswatch: a streaming news monitor.

Connectors pull feeds and wire services, a Beam pipeline extracts entities and
matches watch topics, stories are indexed and alerts delivered. This package
holds the domain code shared by connectors, pipelines and the app shell.
"""

__version__ = "0.1.0"
PIPELINE_VERSION = f"newswatch-{__version__}"
