"""The competition server: SENSORIUM-style competitions, self-hosted (``neurotwin serve``).

A competition is a folder holding ``competition.json`` (tracks, phases, limits, hidden truth
files) and, by default, its SQLite database and uploads. The web application
(:mod:`neurotwin.server.app`) accepts uploads and checks them; a separate worker process
(:mod:`neurotwin.server.worker`) scores them from a queue in the database.

The modules import FastAPI and SQLAlchemy, installed with the ``server`` extra
(``pip install "neurotwin[server]"``); this package face imports nothing heavy.
"""
