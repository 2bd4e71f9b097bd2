"""`make test`'s browser step: the dashboard's browser tests drive Debian's Chromium.

Playwright's own browser download (`playwright install`) is not used: it fetches a build from
outside the package registries. Debian's `chromium` is installed with apt-get when it is
missing and this runs as root; otherwise this stops at once with the command to run. The
tests themselves skip without the browser, and fail under CI=true.

    python tests/browser_ready.py        # exit 0: /usr/bin/chromium is there; 2: run the command
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]


def install() -> bool:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(INSTALL, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=False)
        subprocess.run(INSTALL, env=env, check=False)
    return os.access(CHROMIUM, os.X_OK)


def main() -> int:
    if os.access(CHROMIUM, os.X_OK) or install():
        return 0
    print(f"The dashboard's browser tests need Debian's Chromium at {CHROMIUM}. Run:\n"
          f"    sudo {' '.join(INSTALL)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
