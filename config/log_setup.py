"""One logging set-up for every worker: lifecycle at INFO, restarts at WARNING, failures at ERROR."""
import logging
import os


def configure_logging(level):
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
