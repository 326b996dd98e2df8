import re

from tests.conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, re.S)[:2]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    text = (REPO / "README.md").read_text()
    first_block = text.index("```bash")
    assert text[:first_block].strip() == "# charlm-tui"
    run_app, run_tests = readme_commands()
    assert "python-docs" in run_app or run_app.rstrip().endswith("charlm-tui")
    assert run_tests.rstrip().endswith("python -m pytest -q")
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert run_tests in ci, "the README's test command must appear verbatim in .ci/run"
