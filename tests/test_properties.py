"""Property-based tests (hypothesis) of what reads untrusted input: the recipe loader, the CSV manifest parser
and the run-folder loader. Whatever the input, each returns a value or raises AutorecipeError: never another
exception, never a hang. AUTORECIPE_FUZZ_EXAMPLES=1000 runs 1,000 examples each (benchmarks/faults.py does)."""

from __future__ import annotations

import json
import os
import shutil
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autorecipe
from autorecipe import AutorecipeError, Recipe
from autorecipe.data.sources import read_source
from autorecipe.knobs import BUCKETS, registry

EXAMPLES = int(os.environ.get("AUTORECIPE_FUZZ_EXAMPLES", "60"))  # benchmarks/faults.py sets 1,000
fuzzed = settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["auto", "none", "resnet9", "os:abort", "timm:x", "1e9"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)
KNOB_NAMES = sorted(registry())


@st.composite
def recipes(draw) -> str:
    """Recipe YAML: real sections and knob names (or not) with any values, or any text at all."""
    if draw(st.booleans()):
        return draw(st.text(alphabet=string.printable + "\x00\u2028é", max_size=200))
    sections = {}
    for bucket in draw(st.lists(st.sampled_from([*BUCKETS, "other"]), max_size=5)):
        names = draw(st.lists(st.sampled_from([*KNOB_NAMES, "unknown_knob"]), max_size=4))
        sections[bucket] = {name: draw(VALUES) for name in names} if draw(st.booleans()) else draw(VALUES)
    return yaml.safe_dump(sections, allow_unicode=True)


@fuzzed
@given(recipes())
def test_the_recipe_loader_returns_a_recipe_or_a_user_error(text):
    try:
        recipe = Recipe.from_yaml(text, "fuzzed.yaml")
    except AutorecipeError:
        return
    assert Recipe.from_yaml(recipe.to_yaml(), "again.yaml") == recipe  # what loads, saves and loads the same


CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "path", "label", "a.png", "/etc/passwd", "..",
                                                           "x\x00y", "\"", "sub/../a.png"]))


@fuzzed
@given(st.lists(st.lists(CELLS, max_size=4), max_size=8), st.sampled_from(["", "path,label\n"]))
def test_the_manifest_parser_returns_a_source_or_a_user_error(tmp_path, rows, header):
    manifest = tmp_path / "fuzzed.csv"
    body = header + "\n".join(",".join(json.dumps(c) if "," in c or "\n" in c else c for c in row) for row in rows)
    try:
        manifest.write_text(body, encoding="utf-8", errors="surrogatepass")
    except UnicodeEncodeError:
        return
    try:
        source = read_source(manifest)
    except AutorecipeError:
        return
    assert len(source.paths) == len(source.labels) > 0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "run"
    autorecipe.fit("digits", overrides={"width": 0.0625, "epochs": 1}, out=out, device="cpu", progress=False)
    return out


FILES = ("classes.json", "inference.json", "metrics.json", "history.csv", "recipe.yaml", "model.safetensors")


@fuzzed
@given(st.sampled_from(FILES), st.one_of(st.binary(max_size=300), VALUES.map(lambda v: json.dumps(v).encode()),
                                         st.just(None)), st.integers(0, 10**6))
def test_the_run_folder_loader_returns_a_run_or_a_user_error(tiny_run, tmp_path_factory, name, content, cut):
    folder = tmp_path_factory.mktemp("fuzzed") / "run"
    shutil.copytree(tiny_run, folder)
    original = (folder / name).read_bytes()
    if content is None:  # the file cut short at some byte
        content = original[: cut % (len(original) + 1)]
    (folder / name).write_bytes(content)
    try:
        run = autorecipe.load(folder)
    except AutorecipeError:
        return
    finally:
        shutil.rmtree(folder.parent)
    assert len(run.classes) == 10
