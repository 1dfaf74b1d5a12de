"""The REST API over the writer (``qldb-audit serve``): an ASGI application (Starlette).

- app.py: the route table, authentication, rate limits (limits.py), the plumbing; one module
  per resource holds its routes and handlers: sample.py (the AWS QLDB REST sample's routes,
  unchanged in shape), documents.py, receipts.py, digests.py, exports.py, events.py and
  verify_routes.py (whose one adapter to the verification engine is judge.py); routes.py:
  the route spec; openapi.py: the OpenAPI document generated from the table; web.py: strict
  input reading and error answers.
- service.py: what each route does over ``auditor.ledger.Ledger`` (blocking, in threads),
  with the roles of access.py, the state machine of states.py and the schemas of schemas.py.
- outbox.py: notifications derived from the journal, stored and delivered from tables in
  the ledger file (webhooks signed with HMAC-SHA256; Server-Sent Events).
- client.py: a standard-library client and webhook receiver for scripts and demos.

Nothing else imports this package (the server is a leaf, like the CLI), and this file imports
none of its modules, so that they import each other without a circle through the package:
import what you need from its module (``auditor.server.app.create_app``, ``auditor.server.config``).
"""
