"""A run folder is data: loading it never imports or calls code named in it unless the user says to trust it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import autorecipe
from autorecipe import AutorecipeError
from autorecipe.cli import main
from autorecipe.errors import UntrustedModelCode


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("custom") / "run"
    autorecipe.fit("digits", model="usermodels:tiny_net", overrides={"epochs": 1}, out=out, device="cpu",
                   progress=False)
    return out


def with_model(run: Path, tmp_path: Path, model: str) -> Path:
    """A copy of the run folder whose recipe names `model`."""
    folder = tmp_path / model.replace(":", "_")
    folder.mkdir()
    for f in run.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    recipe = (folder / "recipe.yaml").read_text().replace("usermodels:tiny_net", model)
    (folder / "recipe.yaml").write_text(recipe)
    return folder


def test_a_recipe_naming_os_abort_is_refused_not_called(custom_run, tmp_path):
    folder = with_model(custom_run, tmp_path, "os:abort")
    code = ("import autorecipe, sys\n"
            "try:\n    autorecipe.load(sys.argv[1])\n"
            "except autorecipe.AutorecipeError as e:\n    print('refused', e)\n")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("refused") and "os:abort" in done.stdout


def test_a_module_beside_the_run_is_not_imported(custom_run, tmp_path, monkeypatch):
    folder = with_model(custom_run, tmp_path, "planted:net")
    marker = tmp_path / "ran"
    (folder / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef net(**_): pass\n")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))  # as if run from that folder with it on the path
    for argv in (["predict", str(folder), str(folder / "planted.py")], ["evaluate", str(folder), "digits"],
                 ["export", str(folder)]):
        assert main(argv) == 2
    assert main(["report", str(folder)]) == 0  # written, saying why it has no results
    assert not marker.exists() and "planted" not in sys.modules
    with pytest.raises(UntrustedModelCode, match="--trust-model-code"):
        autorecipe.load(folder)


def test_the_user_may_trust_a_run_or_give_its_model(custom_run, tmp_path, capsys):
    assert main(["evaluate", str(custom_run), "digits"]) == 2
    assert "usermodels:tiny_net, code from outside autorecipe" in capsys.readouterr().err
    assert main(["evaluate", str(custom_run), "digits", "--trust-model-code"]) == 0
    assert main(["report", str(custom_run)]) == 0  # the report says why it has no results
    assert "--trust-model-code" in (custom_run / "report.html").read_text()
    import usermodels
    assert autorecipe.load(custom_run, model=usermodels.tiny_net).classes == [str(i) for i in range(10)]


def test_zoo_and_timm_names_are_data(custom_run, tmp_path):
    folder = with_model(custom_run, tmp_path, "timm:resnet18")
    with pytest.raises(AutorecipeError) as raised:  # timm is a library, not the folder's code: no trust needed
        autorecipe.load(folder)
    assert not isinstance(raised.value, UntrustedModelCode)
