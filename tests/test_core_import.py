import subprocess
import sys


def test_core_never_imports_the_ui():
    code = (
        "import sys, charlm_tui.core, charlm_tui.cli; "
        "from charlm_tui.core import batching, catalog, checkpoint, corpus, jobs, model, runs, sampling, training; "
        "bad = [m for m in ('textual', 'rich', 'charlm_tui.tui') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_app_starts_without_importing_torch():
    code = "import sys, charlm_tui.cli, charlm_tui.tui.app; sys.exit(1 if 'torch' in sys.modules else 0)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, "torch is imported on the app's start-up path"


def test_the_app_module_leaves_the_data_layer_until_after_the_first_paint():
    # the catalog, the corpus reader and the runs layer are imported when first used (after the
    # first paint); numpy only by a worker
    code = (
        "import sys, charlm_tui.tui.app; "
        "bad = [m for m in ('charlm_tui.core.runs', 'charlm_tui.core.run_store', 'charlm_tui.core.catalog', 'charlm_tui.core.corpus', "
        "'numpy') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
