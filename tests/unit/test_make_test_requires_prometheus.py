"""`make test` refuses to run without Debian's prometheus package, or without chromium and chromium-driver,
in one line naming them (never a skip)."""
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_make_test_without_promtool_stops_with_one_line_naming_the_package(tmp_path):
    for tool in ("make", "sh"):  # a PATH with make and a shell, and no promtool or prometheus
        (tmp_path / tool).symlink_to(shutil.which(tool))

    # (-o: take the venv as it is; this test is about the check, not about installing)
    result = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.dev", "test"], cwd=REPO, env={"PATH": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        "make test needs Debian's prometheus package (promtool, prometheus): apt-get install prometheus"], result


def test_make_test_without_chromium_stops_with_one_line_naming_the_packages(tmp_path):
    for tool in ("make", "sh", "promtool", "prometheus"):  # everything but the browser and its driver
        (tmp_path / tool).symlink_to(shutil.which(tool))

    result = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.dev", "test"], cwd=REPO, env={"PATH": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        "make test needs Debian's chromium and chromium-driver packages (the dashboard's browser test): "
        "apt-get install chromium chromium-driver"], result
