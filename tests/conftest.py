"""Test-wide settings.

In CI, Hypothesis runs derandomized: the same examples every run, so a red build always
reproduces. Locally it explores new examples each run, which is how bugs are found.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
