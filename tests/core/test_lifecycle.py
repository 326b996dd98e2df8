"""One mapping from why training stopped to the status it leaves the run in, used by the run
folder and the app alike (they disagreed: the app showed a crashed run as 'stopped')."""

import json

from charlm_tui.core.lifecycle import TERMINAL_STATUSES, RunStatus, StopReason, status_for


def test_every_reason_maps_to_one_status():
    assert {r.value: status_for(r).value for r in StopReason} == {
        "max_steps": "finished",
        "max_epochs": "finished",
        "max_seconds": "finished",
        "early_stop": "finished",
        "nan": "failed",
        "error": "failed",
        "stopped": "stopped",
        "quit": "stopped",
        "hangup": "stopped",
        "terminated": "stopped",
        "interrupt": "stopped",
    }
    assert status_for("something new") == "stopped" and status_for(None) == "stopped"


def test_values_stay_the_strings_the_files_hold():
    assert (
        json.dumps({"status": RunStatus.STALLED, "reason": StopReason.HANGUP})
        == '{"status": "stalled", "reason": "hangup"}'
    )
    assert f"{RunStatus.FAILED:<8}|" == "failed  |" and str(StopReason.NAN) == "nan"
    assert "finished" in TERMINAL_STATUSES and "running" not in TERMINAL_STATUSES


def test_the_app_and_the_run_folder_agree_on_a_crashed_run(home):
    from charlm_tui.core.config import TrainEvent
    from charlm_tui.tui.app import make_app
    from charlm_tui.tui.messages import TrainUpdate

    app = make_app(home)
    app.on_train_update(TrainUpdate(TrainEvent("done", 7, 0.1, 100, reason="error", message="training raised")))
    assert app.training.live.state == "failed"
