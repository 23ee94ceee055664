"""The service supervisor restarts a child that raises, after a delay that grows with consecutive
failures and starts over once the child has run for a while (as OTP's restart intensity forgets old
crashes): a service that failed a few times last hour is not restarted 5 s late forever after."""
import time

import gevent

from greenlets import services
from greenlets.services import ServiceSupervisor
from greenlets.telemetry import Telemetry


def test_a_child_that_ran_for_a_while_before_it_raised_is_restarted_after_the_first_delay_again(monkeypatch):
    monkeypatch.setattr(services, "SERVICE_RESTART_DELAYS_S", (0.01, 0.05, 0.3))
    monkeypatch.setattr(services, "SERVICE_HEALTHY_AFTER_S", 0.2)
    starts = []

    def child():
        starts.append(time.monotonic())
        if len(starts) == 4:
            gevent.sleep(0.25)  # healthy for a while
        if len(starts) <= 5:
            raise RuntimeError(f"failure {len(starts)}")
        gevent.sleep(10)

    node_services = ServiceSupervisor(Telemetry())
    node_services.start_child("flaky", child)
    deadline = time.monotonic() + 5
    while len(starts) < 6 and time.monotonic() < deadline:
        gevent.sleep(0.01)
    node_services.stop()

    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    assert len(gaps) == 5, gaps
    assert gaps[2] >= 0.3  # three quick failures in a row: the longest delay
    assert gaps[4] < 0.2, f"the delay did not start over after the child ran for a while: {gaps}"
