"""The REST API over the writer (``qldb-audit serve``): an ASGI application (Starlette).

- app.py: routes (the AWS QLDB REST sample's, unchanged in shape, and ``/v1`` resources),
  authentication, rate limits, size caps; openapi.py: the OpenAPI document.
- service.py: what each route does over ``auditor.ledger.Ledger`` (blocking, in threads),
  with the roles of access.py and the schemas of schemas.py.
- outbox.py: notifications derived from the journal, stored and delivered from tables in
  the ledger file (webhooks signed with HMAC-SHA256; Server-Sent Events).
- client.py: a standard-library client and webhook receiver for scripts and demos.

Nothing else imports this package (the server is a leaf, like the CLI).
"""

from auditor.server.app import create_app
from auditor.server.config import ConfigError, ServerConfig, load_config

__all__ = ["ConfigError", "ServerConfig", "create_app", "load_config"]
