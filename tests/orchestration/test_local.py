"""Real `kfp.local` runs of tiny pipelines through `run_local`: each run has its own folder (also when two
run at once), one line per finished step, the full logs in files, a failed step named in one line."""

# No `from __future__ import annotations`: KFP reads the components' annotations as types.
import subprocess
import sys
from pathlib import Path

import pytest
from components.image import PROJECT_IMAGE
from kfp import dsl

from stockpredictor.config import Settings
from stockpredictor.errors import PipelineError
from stockpredictor.orchestration.local import run_local
from stockpredictor.orchestration.step_log import Step
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def say(word: str) -> str:
    print(f"saying {word}")
    return word


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def refuse(word: str) -> str:
    from stockpredictor.errors import UsageError
    from stockpredictor.orchestration.runtime import reported_errors

    with reported_errors():
        raise UsageError(f"{word} is refused")


@dsl.pipeline(name="two-steps")
def two_steps(word: str = "hello") -> None:
    first = say(word=word)
    say(word=first.output).set_display_name("again")


@dsl.pipeline(name="failing")
def failing(word: str = "hello") -> None:
    refuse(word=say(word=word).output)


def settings(tmp_path: Path) -> Settings:
    return Settings(
        tmp_path / "data", f"sqlite:///{tmp_path / 'store.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    )


def test_a_run_reports_each_step_and_keeps_its_logs_in_files(tmp_path: Path) -> None:
    steps: list[Step] = []
    run = run_local(two_steps, {"word": "alpha"}, settings(tmp_path), REPO / "params.yaml", steps.append)
    assert [(step.name, step.status) for step in steps] == [("say", "SUCCESS"), ("say-2", "SUCCESS")]
    assert run.output_dir.parent == run.log_dir.parent
    assert "saying alpha" in (run.log_dir / "say.log").read_text()
    assert "finished with status SUCCESS" in (run.log_dir / "pipeline.log").read_text()


def test_a_failed_step_is_one_line_naming_the_step_its_error_and_its_log(tmp_path: Path) -> None:
    steps: list[Step] = []
    with pytest.raises(PipelineError) as info:
        run_local(failing, {"word": "beta"}, settings(tmp_path), REPO / "params.yaml", steps.append)
    assert [(step.name, step.status) for step in steps] == [("say", "SUCCESS"), ("refuse", "FAILURE")]
    message = str(info.value)
    assert "task refuse failed: beta is refused; its log: " in message and "\n" not in message
    assert "beta is refused" in Path(message.rsplit("its log: ", 1)[1].split(" (logs in")[0]).read_text()


_RUN_ONE = """
import sys
from pathlib import Path
from stockpredictor.config import Settings
from stockpredictor.orchestration.local import run_local
from tests.orchestration.test_local import two_steps

data = Path(sys.argv[1])
settings = Settings(data, f"sqlite:///{data / 'store.db'}", f"sqlite:///{data / 'mlflow.db'}")
print(run_local(two_steps, {"word": sys.argv[2]}, settings, Path(sys.argv[3])).output_dir)
"""


def test_two_runs_at_once_each_know_their_own_folder(tmp_path: Path) -> None:
    words = ("first", "second")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN_ONE, str(tmp_path / "data"), word, str(REPO / "params.yaml")],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for word in words
    ]
    folders = [Path(run.communicate(timeout=600)[0].strip().splitlines()[-1]) for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert folders[0] != folders[1]
    for folder, word in zip(folders, words, strict=True):
        assert word in (folder / "say" / "executor_output.json").read_text()
