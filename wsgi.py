"""The WSGI entry point gunicorn loads (``wsgi:app``).

psycopg2 is made cooperative before anything can open a connection; the node (this worker's
runtime) is created here and started by gunicorn's post_worker_init hook (config/gunicorn.conf.py).
"""
import gc

import gevent
from psycogreen.gevent import patch_psycopg

patch_psycopg()
# Recording each greenlet's spawning stack and tree costs more than the rest of starting a row server.
gevent.config.track_greenlet_tree = False
# Tens of thousands of row servers make every young-generation collection walk them: collect less often.
gc.set_threshold(50_000, 20, 20)

from config.log_setup import configure_logging  # noqa: E402  (after the patch, on purpose)
from config.settings import Settings  # noqa: E402
from greenlets.node import Node  # noqa: E402
from greenlets.telemetry import hub_watch  # noqa: E402
from service import create_app  # noqa: E402

settings = Settings.from_env()
node = Node(settings)
configure_logging(settings.log_level, settings.log_format, node)
hub_watch.install(node.telemetry)
app = create_app(node)
