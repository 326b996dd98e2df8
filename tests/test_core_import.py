import subprocess
import sys


def test_core_never_imports_the_ui():
    code = (
        "import sys, charlm_tui.core, charlm_tui.cli.main; "
        "from charlm_tui.core.data import batching, catalog, corpus; "
        "from charlm_tui.core.model import charlm, sampling; "
        "from charlm_tui.core.store import checkpoint, run; "
        "from charlm_tui.core.training import jobs, trainer; "
        "bad = [m for m in ('textual', 'rich', 'charlm_tui.tui') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_app_starts_without_importing_torch():
    code = "import sys, charlm_tui.cli.main, charlm_tui.tui.app; sys.exit(1 if 'torch' in sys.modules else 0)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, "torch is imported on the app's start-up path"


def test_the_app_module_leaves_the_data_layer_until_after_the_first_paint():
    # the catalog, the corpus reader and the runs layer are imported when first used (after the
    # first paint); numpy only by a worker
    code = (
        "import sys, charlm_tui.tui.app; "
        "bad = [m for m in ('charlm_tui.core.store.run', 'charlm_tui.core.store.run_store', 'charlm_tui.core.data.catalog', 'charlm_tui.core.data.corpus', "
        "'numpy') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
