"""The recall signal's settings are checked when Loopline starts, not when the sweep first needs them."""

from __future__ import annotations

import pytest

from orchestrator.settings import Settings, SettingsError


@pytest.mark.parametrize("environ, problem", [
    ({"LOOPLINE_RECALL_SIGNAL_REARM_AFTER": "0"}, "LOOPLINE_RECALL_SIGNAL_REARM_AFTER must be at least 1"),
    ({"LOOPLINE_RECALL_SIGNAL_MODEL_THRESHOLD": "0"}, "LOOPLINE_RECALL_SIGNAL_MODEL_THRESHOLD must be at least 1"),
    ({"LOOPLINE_RECALL_SIGNAL_MODEL_PATTERN": "^[A-Z]+"}, "needs a group"),
    ({"LOOPLINE_RECALL_SIGNAL_MODEL_PATTERN": "(["}, "is no regular expression"),
])
def test_signal_settings_are_checked_at_start(environ, problem, tmp_path):
    with pytest.raises(SettingsError, match=problem.replace("(", r"\(")):
        Settings.from_env({"LOOPLINE_HOME": str(tmp_path), **environ})
    settings = Settings.from_env({"LOOPLINE_HOME": str(tmp_path), "LOOPLINE_RECALL_SIGNAL_MODEL_THRESHOLD": "7",
                                  "LOOPLINE_RECALL_SIGNAL_REARM_AFTER": "4"})
    assert (settings.recall_signal_model_threshold, settings.recall_signal_rearm_after) == (7, 4)
