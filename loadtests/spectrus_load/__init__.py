"""Spectrus load tests: locust users that behave like community members, the deployment
they run against, seeding, delivery accounting and the results table.

Only ``users``, ``gateway_ws``, ``voice`` and ``driver`` import locust (and with it gevent's
monkey-patching); they run in the locust process that ``loadtests/run.py`` starts. Every
other module here is plain Python that the runner and the tests may import.
"""
