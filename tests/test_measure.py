"""The dynamic pass: counts against real CPU builds, formulas at unsampled widths, isolation."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from esper_lint.config import Config, load
from esper_lint.expression import evaluate
from esper_lint.measure import (
    RANDOM_WIDTHS,
    DynamicResult,
    ModuleJob,
    death_failure,
    draw_widths,
    import_location,
    measure,
    plan_jobs,
    run_job,
    sample_widths,
)
from esper_lint.model import Failure, Formula, Measurement, Site
from esper_lint.protocol import ItemResult
from esper_lint.sites import find_sites
from esper_lint.worker_process import Worker, WorkerPool

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO = FIXTURES / "demo"
HOSTILE = FIXTURES / "hostile"
CHECK_WIDTHS = (1, 3, 64, 100, 256, 512, 1024)  # sampled by the pass, rebuilt here on CPU
UNSAMPLED = (*range(259, 300, 2), 301, 70000)  # never sampled; 70000 is built on meta here
META_FROM = 4096  # build wider modules on the meta device in the tests too

pytestmark = pytest.mark.filterwarnings("ignore:Failed to initialize NumPy")


def sites_in(project: Path, config: Config, only: tuple[str, ...] = ()) -> list[Site]:
    files = sorted(project.rglob("*.py"))
    return [site for path in files if not only or path.stem in only
            for site in find_sites(path, str(path), path.read_text(), config).sites]


def by_factory(result: DynamicResult) -> dict[str, Measurement]:
    return {f"{s.path.stem}.{s.blueprint.factory}": m for s, m in result.measurements.items()}


def failure_of(result: DynamicResult, key: str) -> Failure:
    failure = by_factory(result)[key].failure
    assert failure is not None, key
    return failure


def formula_of(result: DynamicResult, key: str) -> Formula:
    formula = by_factory(result)[key].formula
    assert formula is not None, key
    return formula


@pytest.fixture(scope="module")
def demo_config() -> Config:
    return replace(load(DEMO / "pyproject.toml"), timeout=5.0, cache_dir="")  # measure for real


@pytest.fixture(scope="module")
def demo(demo_config: Config) -> DynamicResult:
    return measure(sites_in(DEMO, demo_config), demo_config)


@pytest.fixture(scope="module")
def demo_modules() -> Iterator[None]:
    """The demo package imported into this process, to rebuild its modules on CPU."""
    sys.path.insert(0, str(DEMO))
    yield
    sys.path.remove(str(DEMO))
    for name in [n for n in sys.modules if n == "seedlib" or n.startswith("seedlib.")]:
        del sys.modules[name]


def real_count(site: Site, width: int, **kwargs: int) -> int | None:
    """Build the factory here, on CPU (meta for very wide modules); None if it raises."""
    import torch

    module = importlib.import_module(f"seedlib.blueprints.{site.path.stem}")
    factory = getattr(module, site.blueprint.factory or "")
    try:
        with torch.device("meta" if width >= META_FROM else "cpu"):
            built = factory(width, **kwargs)
    except (ValueError, AssertionError):
        return None
    return int(sum(p.numel() for p in built.parameters()))


# --- the demo project -----------------------------------------------------------------------


@pytest.mark.slow
def test_demo_is_measured_without_failures_or_warnings(demo: DynamicResult) -> None:
    assert len(demo.measurements) == 14
    assert all(m.failure is None and m.counts for m in demo.measurements.values())
    assert demo.warnings == ()


@pytest.mark.slow
def test_counts_match_real_cpu_builds(demo: DynamicResult, demo_modules: None) -> None:
    for site, m in demo.measurements.items():
        for width in CHECK_WIDTHS:
            assert m.count_at(width) == real_count(site, width), (site.blueprint, width)


@pytest.mark.slow
def test_every_demo_blueprint_gets_a_formula(demo: DynamicResult) -> None:
    missing = [s.blueprint.label for s, m in demo.measurements.items() if m.formula is None]
    assert missing == []


@pytest.mark.slow
def test_formulas_hold_at_widths_never_sampled(demo: DynamicResult, demo_modules: None) -> None:
    for site, m in demo.measurements.items():
        assert m.formula is not None
        # each run also draws widths at random above 256, which may fall on some of these
        unsampled = [width for width in UNSAMPLED if width not in dict(m.counts)]
        assert len(unsampled) >= len(UNSAMPLED) - RANDOM_WIDTHS
        for width in unsampled:
            actual = real_count(site, width)
            if actual is not None:
                env = {m.variable: width, **dict(m.params)}
                assert evaluate(m.formula.expr, env) == actual, (site.blueprint, width)


@pytest.mark.slow
def test_formulas_hold_for_other_keyword_values(demo: DynamicResult, demo_modules: None) -> None:
    cases = [("transformer.create_lora_seed", "rank", 7), ("transformer.create_mlp_seed",
             "expansion", 3), ("cnn.create_attention_seed", "reduction", 7)]
    sites = {f"{s.path.stem}.{s.blueprint.factory}": s for s in demo.measurements}
    for key, name, value in cases:
        formula = formula_of(demo, key)
        assert name in dict(formula.params)
        for width in (5, 301, 999):
            env = {formula.variable: width, **dict(formula.params), name: value}
            assert evaluate(formula.expr, env) == real_count(sites[key], width, **{name: value})


@pytest.mark.slow
def test_constant_blueprints_are_exact(demo: DynamicResult) -> None:
    for key, constant in (("cnn.create_identity_seed", 0), ("cnn.create_temperature_seed", 1000)):
        assert {count for _, count in by_factory(demo)[key].counts} == {constant}
        assert formula_of(demo, key).expr == str(constant)


@pytest.mark.slow
def test_attention_domain_is_divisible_by_heads(demo: DynamicResult) -> None:
    m = by_factory(demo)["transformer.create_attention_seed"]
    assert m.domain == "dim % 4 == 0"
    assert all(w % 4 for w in m.outside) and all(w % 4 == 0 for w, _ in m.counts)


@pytest.mark.slow
def test_tied_weights_count_once(demo: DynamicResult) -> None:
    formula = formula_of(demo, "transformer.create_tied_seed")
    assert evaluate(formula.expr, {"dim": 512}) == 512 * 512 + 2 * 512


@pytest.mark.slow
def test_callable_estimates_are_evaluated(demo: DynamicResult) -> None:
    measured = by_factory(demo)
    right = measured["callables.create_channel_norm_seed"]
    wrong = measured["callables.create_projection_seed"]
    assert len(right.estimate_values) == len(right.counts)
    assert dict(right.estimate_values) == dict(right.counts)
    assert dict(wrong.estimate_values)[64] == 64 * 64 != wrong.count_at(64)


@pytest.mark.slow
def test_register_annotated_int_does_not_take_callables(demo: DynamicResult) -> None:
    assert {m.callable_estimates for m in demo.measurements.values()} == {False}


@pytest.mark.slow
def test_loaded_files_cover_the_registry(demo: DynamicResult) -> None:
    cnn = DEMO / "seedlib" / "blueprints" / "cnn.py"
    assert DEMO / "seedlib" / "registry.py" in demo.loaded_files[cnn]
    assert all(DEMO in path.parents for path in demo.loaded_files[cnn])


# --- isolation ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_config() -> Config:
    # timeout = 3, memory-limit-mb = 2048; no cache, so every test measures for real
    return replace(load(HOSTILE / "pyproject.toml"), cache_dir="")


@pytest.fixture(scope="module")
def hostile(hostile_config: Config) -> DynamicResult:
    return measure(sites_in(HOSTILE, hostile_config), hostile_config)


FAILURES = {
    "hang_on_import.create_slow_seed": "ESP912",
    "hang_in_factory.create_spinning_seed": "ESP912",
    "exit_on_import.create_exiting_seed": "ESP911",
    "import_error.create_missing_seed": "ESP911",
    "crash_on_import.create_crashing_seed": "ESP913",
    "memory_hog.create_hog_seed": "ESP913",
    "nested.register_all.<locals>.create_nested_seed": "ESP914",
    "raising_factory.create_unfinished_seed": "ESP915",
    "surrogate_error.create_surrogate_seed": "ESP915",
}


@pytest.mark.slow
@pytest.mark.parametrize(("factory", "code"), sorted(FAILURES.items()))
def test_each_isolation_case_fails_alone(hostile: DynamicResult, factory: str, code: str) -> None:
    assert failure_of(hostile, factory).code == code


@pytest.mark.slow
def test_the_rest_is_measured_in_the_same_run(hostile: DynamicResult) -> None:
    measured = {k: m for k, m in by_factory(hostile).items() if k not in FAILURES}
    assert set(measured) == {"fine.create_linear_seed", "fine.create_norm_seed",
                             "noisy.create_noisy_seed", "hang_in_factory.create_after_spinning_seed",
                             "bad_estimate.create_shrinking_seed"}
    assert all(m.failure is None and m.formula for m in measured.values())
    assert formula_of(hostile, "fine.create_linear_seed").expr == "dim**2 + dim"


@pytest.mark.slow
def test_failures_say_why(hostile: DynamicResult) -> None:
    def failure(key: str) -> Failure:
        return failure_of(hostile, key)

    assert "ModuleNotFoundError" in failure("import_error.create_missing_seed").detail
    assert failure("exit_on_import.create_exiting_seed").detail == "SystemExit: 3"
    assert "SIGSEGV" in failure("crash_on_import.create_crashing_seed").reason
    assert "timed out after 3 s" in failure("hang_on_import.create_slow_seed").reason
    assert "MemoryError" in failure("memory_hog.create_hog_seed").detail
    assert "NotImplementedError" in failure("raising_factory.create_unfinished_seed").detail


@pytest.mark.slow
def test_a_callable_estimate_that_raises_is_a_warning(hostile: DynamicResult) -> None:
    m = by_factory(hostile)["bad_estimate.create_shrinking_seed"]
    assert 3 not in dict(m.estimate_values) and dict(m.estimate_values)[4] == 16 + 1000
    assert [w for w in hostile.warnings if "bad_estimate.py" in w] == [
        f"{HOSTILE / 'hostilepkg' / 'bad_estimate.py'}:8: cnn:shrinking: param_estimate "
        "`lambda dim: dim * dim + 1000 // (dim - 3)`: at width 3 it raised "
        "ZeroDivisionError: integer division or modulo by zero"
    ]


@pytest.mark.slow
def test_user_output_never_reaches_our_stdout(hostile_config: Config,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    result = measure(sites_in(HOSTILE, hostile_config, only=("noisy", "fine")), hostile_config)
    out, err = capfd.readouterr()
    assert "NOISY" not in out and "NOISY" not in err
    assert all(m.formula for m in result.measurements.values())


@pytest.mark.slow
def test_the_parent_never_imports_torch_or_user_code() -> None:
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from dataclasses import replace\n"
        "from esper_lint.config import load\n"
        "from esper_lint.measure import measure\n"
        "from esper_lint.sites import find_sites\n"
        f"path = Path({str(HOSTILE / 'hostilepkg' / 'fine.py')!r})\n"
        f"config = load(Path({str(HOSTILE / 'pyproject.toml')!r}))\n"
        "config = replace(config, cache_dir='')\n"
        "sites = find_sites(path, 'fine.py', path.read_text(), config).sites\n"
        "result = measure(sites, config)\n"
        "print(json.dumps([len(result.measurements), 'torch' in sys.modules,\n"
        "                  any(m.startswith('hostilepkg') for m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    assert json.loads(done.stdout) == [2, False, False]


# A stand-in worker: it imports the module, then answers the first item with ``line``.
OUT_OF_STEP_WORKER = """
import sys, time
sys.stdin.readline()
print('t0k3n {{"event": "imported", "files": []}}')
print({line!r}, flush=True)
time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.parametrize("line", ["t0k3n not JSON", 't0k3n {"event": "done"}', '{"event": "done"}'])
def test_a_line_outside_the_protocol_fails_one_blueprint_as_a_dead_worker_would(
        hostile_config: Config, line: str) -> None:
    [job], _ = plan_jobs(sites_in(HOSTILE, hostile_config, only=("fine",)), hostile_config)
    process = subprocess.Popen([sys.executable, "-c", OUT_OF_STEP_WORKER.format(line=line)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    pool = WorkerPool(hostile_config)
    pool._worker = Worker(process, b"t0k3n")  # the real worker replaces it after the bad line
    try:
        outcome = run_job(pool, job, hostile_config, lambda _: None)
    finally:
        pool.close()
    first, second = (outcome.items[site] for site in job.sites)
    assert isinstance(first, Failure) and first.code == "ESP913"
    assert "broke the protocol" in first.reason
    assert isinstance(second, ItemResult) and second.counts
    assert process.poll() is not None


# --- without torch -------------------------------------------------------------------------------


def test_without_torch_one_warning_and_no_measurements(
        tmp_path: Path, hostile_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    venv.create(tmp_path / "bare", with_pip=False)  # shares the interpreter, not site-packages
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bare" / "bin" / "python"))
    result = measure(sites_in(HOSTILE, hostile_config, only=("fine",)), hostile_config)
    assert result.measurements == {}
    assert len(result.warnings) == 1
    assert "torch" in result.warnings[0] and "skipped" in result.warnings[0]


def test_an_interpreter_that_cannot_start_is_one_warning(
        hostile_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    result = measure(sites_in(HOSTILE, hostile_config, only=("fine",)), hostile_config)
    assert result.measurements == {} and len(result.warnings) == 1


# --- module names and failure wording --------------------------------------------------------------


def test_module_name_walks_up_packages(tmp_path: Path) -> None:
    package = tmp_path / "proj" / "pkg" / "sub"
    package.mkdir(parents=True)
    for folder in (package, package.parent):
        (folder / "__init__.py").write_text("")
    (package / "mod.py").write_text("")
    assert import_location(package / "mod.py", ()) == ("pkg.sub.mod", (tmp_path / "proj",))
    assert import_location(package / "__init__.py", ()) == ("pkg.sub", (tmp_path / "proj",))


def test_a_source_root_names_namespace_packages(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "ns" / "pkg").mkdir(parents=True)
    (src / "ns" / "pkg" / "__init__.py").write_text("")
    (src / "ns" / "pkg" / "mod.py").write_text("")
    location = import_location(src / "ns" / "pkg" / "mod.py", (tmp_path, src))
    assert location == ("ns.pkg.mod", (src, src / "ns"))


def test_a_file_name_that_is_not_a_module_name(tmp_path: Path) -> None:
    (tmp_path / "my-seeds.py").write_text("")
    assert import_location(tmp_path / "my-seeds.py", ()) is None


def test_exiting_during_import_is_an_import_failure() -> None:
    job = ModuleJob("pkg.mod", (), Path("mod.py"), ())
    config = Config()
    assert death_failure(job, 3, config, imported=False).code == "ESP911"
    assert death_failure(job, -11, config, imported=False).code == "ESP913"
    assert "SIGKILL" in death_failure(job, -9, config, imported=True).reason


@pytest.mark.parametrize("config", [Config(), Config(reference_dims=(("cnn", (384, 4096)),))])
def test_every_run_builds_as_many_widths(config: Config) -> None:
    """The random widths never repeat a fixed one, so messages ("at all N sampled widths")
    read the same from run to run."""
    fixed = len(sample_widths(config))
    for _ in range(300):
        assert len(sample_widths(config, draw_widths(config))) == fixed + RANDOM_WIDTHS
