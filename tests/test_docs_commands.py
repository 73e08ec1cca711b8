"""Every command in README.md and docs/*.md runs (docs cannot drift from the CLI).

Each page's fenced ``bash`` blocks are read in order and their ``synthgap ...`` lines run for
real, on tiny sizes, in one scratch folder per page, through click's CliRunner (in-process, so
a page costs seconds, not a process start per command). The rules, also in
docs/development.md ("Documentation that cannot drift"):

- a synopsis (``[...]``, ``a|b`` or a placeholder in capitals such as ``SCENE``) is not run: its
  command must exist and every flag in it must appear in the command's ``--help``;
- every other ``synthgap`` line runs, shrunk by `shrink` (at most 4 images at 80x60, 3 training
  steps, ...), and must exit 0, unless its comment says ``# exit N`` or ``# error`` (then it
  runs unchanged and must fail that way, printing the text after the colon);
- ``echo/mkdir/cp/mv/touch`` lines and ``python - <<EOF`` snippets run in the scratch folder;
  other shell lines (``make``, ``ray``, ``pip`` ...) are not run;
- a ``yaml`` block whose first line is ``# file: NAME`` is written to NAME when reached;
- ``<!-- not-run ... -->`` on the line before a block skips it;
- every ``benchmarks/<script>.py`` a page mentions exists and takes the flags shown (its ``--help``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from synthgap.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Commands a page expects to have run before its own (the page says so in prose).
PREPARE = {
    "safety.md": ["synthgap render preset:bin -n 4 -o out"],  # "after ... any render into out/"
}
#: Shell commands that are run (in the scratch folder); any other non-synthgap line is not.
SHELL_OK = {"echo", "mkdir", "cp", "mv", "touch"}
#: Sizes the runnable commands are shrunk to.
TINY_IMAGES, TINY_SIZE, TINY_STEPS = 4, (80, 60), 3
SMCAE_METHODS = {"smcae", "patch-smcae", "conv-smcae"}  # methods with --iterations


@dataclass(frozen=True)
class Step:
    """One command of a page (continuation lines joined), or a file a yaml block writes."""

    line: int
    command: str = ""
    comment: str = ""
    body: str = ""  # heredoc body, or the file's text for a `# file:` yaml block
    file: str = ""


def _split_comment(line: str) -> tuple[str, str]:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def _bash_steps(block: list[str], first: int) -> list[Step]:
    steps, k = [], 0
    while k < len(block):
        line_no, logical = first + k, block[k]
        while logical.rstrip().endswith("\\") and k + 1 < len(block):
            k += 1
            logical = logical.rstrip()[:-1] + " " + block[k].strip()
        k += 1
        body = ""
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", logical)
        if heredoc:
            lines = []
            while k < len(block) and block[k].strip() != heredoc.group(1):
                lines.append(block[k])
                k += 1
            k += 1
            body = "\n".join(lines) + "\n"
        command, comment = _split_comment(logical)
        if command.strip():
            steps.append(Step(line_no, command.strip(), comment, body))
    return steps


def page_steps(text: str) -> list[Step]:
    """The steps of a Markdown page, in reading order."""
    lines, steps, previous, i = text.splitlines(), [], "", 0
    while i < len(lines):
        fence = re.match(r"\s*```(\w*)", lines[i])
        if not fence:
            previous = lines[i] if lines[i].strip() else previous
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        block = textwrap.dedent("\n".join(lines[i + 1:j])).splitlines()
        if not previous.strip().startswith("<!-- not-run"):
            if fence.group(1) == "bash":
                steps.extend(_bash_steps(block, i + 2))
            elif fence.group(1) == "yaml" and block:
                name = re.fullmatch(r"#\s*file:\s*(\S+)", block[0].strip())
                if name:
                    steps.append(Step(i + 2, file=name.group(1), body="\n".join(block) + "\n"))
        previous, i = "```", j + 1
    return steps


def _words(command: str) -> list[str]:
    words = shlex.split(command)
    while words and (re.fullmatch(r"\w+=\S*", words[0]) or words[0] == "time"):
        words = words[1:]
    return words


def is_synopsis(command: str) -> bool:
    """A usage line with placeholders, shown for its options, not to be run as it is."""
    return bool(re.search(r"[\[\]|]", command) or re.search(r"\b[A-Z][A-Z_]+\b", command))


def _set(args: list[str], names: tuple[str, ...], value: object, *, cap: bool = False) -> None:
    """Set option `names` to `value` (or to at most `value` when `cap`), adding it if absent."""
    for k, arg in enumerate(args[:-1]):
        if arg in names:
            args[k + 1] = str(min(int(args[k + 1]), int(value))) if cap else str(value)
            return
    args += [names[0], str(value)]


def _option(args: list[str], names: tuple[str, ...], default: str) -> str:
    for k, arg in enumerate(args[:-1]):
        if arg in names:
            return args[k + 1]
    return default


def shrink(args: list[str], cwd: Path) -> list[str]:
    """The same command on tiny sizes (args without the leading `synthgap`)."""
    args = list(args)
    if args[0] == "render":
        _set(args, ("-n", "--count"), TINY_IMAGES, cap=True)
        _set(args, ("--width",), TINY_SIZE[0])
        _set(args, ("--height",), TINY_SIZE[1])
        if "--workers" in args:
            _set(args, ("--workers",), 1)
    elif args[:2] == ["adapt", "fit"]:
        _set(args, ("--max-images",), TINY_IMAGES, cap=True)
        if _option(args, ("--method",), "pda") in SMCAE_METHODS:
            _set(args, ("--iterations",), TINY_STEPS, cap=True)
    elif args[0] == "gap":
        _set(args, ("--max-images",), TINY_IMAGES, cap=True)
    elif args[0] == "demo":
        _set(args, ("--images",), TINY_IMAGES, cap=True)
        _set(args, ("--method",), "histogram")
        args.append("--no-evaluate")  # tests/pipeline/test_demo.py runs a tiny evaluation
    elif args[0] == "run":
        job_file = next(a for a in args[1:] if not a.startswith("-"))
        path = cwd / job_file
        job = yaml.safe_load(path.read_text(encoding="utf-8"))
        job["images"] = min(int(job["images"]), TINY_IMAGES)
        job["size"], job["workers"] = list(TINY_SIZE), 1
        adapt = dict(job.get("adapt") or {})
        adapt["max_images"] = TINY_IMAGES
        if adapt.get("method", "pda") in SMCAE_METHODS:
            adapt["options"] = {**(adapt.get("options") or {}), "iterations": TINY_STEPS}
        job["adapt"] = adapt
        tiny = path.with_name(f".docs-test-{path.name}")  # same folder: relative paths hold
        tiny.write_text(yaml.safe_dump(job), encoding="utf-8")
        args[args.index(job_file)] = str(tiny)
    return args


def _expected(comment: str) -> tuple[int | None, list[str]] | None:
    """(exit code or None = any non-zero, text fragments) a comment asks for; None = exit 0."""
    m = re.match(r"(?:exit\s+(\d+)|error\b)\s*:?\s*(.*)", comment)
    if not m:
        return None
    fragments = [f.strip() for f in m.group(2).split("...") if f.strip()]
    return (int(m.group(1)) if m.group(1) else None), fragments


def _invoke(args: list[str]):
    result = CliRunner().invoke(main, args)
    output = result.output
    if result.exception and not isinstance(result.exception, SystemExit):
        import traceback

        output += "".join(traceback.format_exception(result.exception))
    return result.exit_code, output


def _help_of(words: list[str]) -> tuple[list[str], str | None]:
    """The command path of a synopsis and its `--help` text (None: no such command)."""
    path = [w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w)]
    if path[:1] not in (["adapt"], ["scene"]):  # command groups: keep the subcommand
        path = path[:1]
    code, output = _invoke([*path, "--help"])
    return path, output if code == 0 else None


def run_step(step: Step, cwd: Path) -> str | None:
    """Run one step in `cwd`; a message when it fails, else None."""
    if step.file:
        (cwd / step.file).parent.mkdir(parents=True, exist_ok=True)
        (cwd / step.file).write_text(step.body, encoding="utf-8")
        return None
    tmp = f"{cwd}/tmp/"
    words = _words(step.command.replace("/tmp/", tmp))
    if not words:
        return None
    if words[0] == "synthgap":
        if is_synopsis(step.command):
            path, help_text = _help_of(words[1:])
            if help_text is None:
                return f"`synthgap {' '.join(path)}` is not a command"
            flags = re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", step.command.split(" ", 1)[1])
            missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}\b", help_text)]
            return f"not in `synthgap {' '.join(path)} --help`: {missing}" if missing else None
        expected = _expected(step.comment)
        args = words[1:] if expected else shrink(words[1:], cwd)
        code, output = _invoke(args)
        if expected is None:
            return None if code == 0 else f"exit {code} for {args}:\n{output[-3000:]}"
        want, fragments = expected
        if code == 0 or (want is not None and code != want):
            return f"expected exit {want or 'non-zero'}, got {code} for {args}:\n{output[-3000:]}"
        lost = [f for f in fragments if f not in output]
        return f"output lacks {lost} for {args}:\n{output[-3000:]}" if lost else None
    if words[0] in SHELL_OK:
        run = subprocess.run(["bash", "-c", step.command.replace("/tmp/", tmp)], cwd=cwd,
                             capture_output=True, text=True, timeout=60)
        return None if run.returncode == 0 else f"exit {run.returncode}: {run.stderr[-2000:]}"
    if words[:2] in (["python", "-"], ["python3", "-"]) and step.body:
        run = subprocess.run([sys.executable, "-"], input=step.body.replace("/tmp/", tmp),
                             cwd=cwd, capture_output=True, text=True, timeout=60)
        return None if run.returncode == 0 else f"exit {run.returncode}: {run.stderr[-2000:]}"
    return None  # make, ray, pip, benchmarks (checked by test_benchmark_commands) ...


def run_page(text: str, cwd: Path, prepare: list[str] = ()) -> list[str]:
    """Run a page's steps in order; the failures, each naming its line (stops at the first)."""
    for command in prepare:
        failure = run_step(Step(0, command), cwd)
        if failure:
            return [f"preparing `{command}`: {failure}"]
    for step in page_steps(text):
        failure = run_step(step, cwd)
        if failure:
            return [f"line {step.line}: `{step.command or step.file}`: {failure}"]
    return []


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """A folder with examples/, photos/ (6 real photo crops) and parts/my_part.stl.

    Like the repository, it has the shared data at ../shared when the checkout has it.
    """
    from synthgap.pipeline.demo import write_coin_photos

    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", work / "examples")
    write_coin_photos(work / "photos", n=6, size=(96, 72))
    (work / "parts").mkdir()
    shutil.copy(ROOT / "examples" / "parts" / "bracket.stl", work / "parts" / "my_part.stl")
    (work / "tmp").mkdir()
    if (ROOT.parent / "shared").is_dir():
        (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    monkeypatch.chdir(work)
    return work


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_command_of_the_page_runs(page, scratch):
    failures = run_page(page.read_text(encoding="utf-8"), scratch, PREPARE.get(page.name, []))
    assert not failures, f"{page.relative_to(ROOT)}: " + "\n".join(failures)


def test_the_pages_cover_every_command():
    steps = [s for p in PAGES for s in page_steps(p.read_text(encoding="utf-8"))]
    shown = {" ".join(w for w in _words(s.command)[1:3] if not w.startswith("-"))
             for s in steps if s.command.startswith("synthgap ")}
    for command in ("validate", "render", "adapt fit", "adapt apply", "gap", "export", "preview",
                    "run", "demo"):
        assert any(c == command or c.startswith(command + " ") for c in shown), command
    walk = [_words(s.command)[1] for s in page_steps((ROOT / "README.md").read_text("utf-8"))
            if s.command.startswith("synthgap ") and not is_synopsis(s.command)]
    assert {"validate", "render", "adapt", "export"} <= set(walk), walk


# --- the checker itself fails on drift ---------------------------------------------------------

@pytest.mark.parametrize(("page", "message"), [
    ("```bash\nsynthgap validate preset:bin --strict\n```", "No such option"),
    ("```bash\nsynthgap valdate preset:bin\n```", "No such command"),
    ("```bash\nsynthgap render SCENE -n N -o OUT [--sed S]\n```", "--sed"),
    ("```bash\nsynthgap adapt fitt --synthetic DIR\n```", "not a command"),
    ("```bash\nsynthgap validate preset:bin   # exit 2\n```", "expected exit 2, got 0"),
    ("```bash\nsynthgap validate preset:nope   # error: no such thing\n```", "no such thing"),
    ("```bash\necho hi > no/such/dir/file\n```", "exit 1"),
    ("```yaml\n# file: s.yaml\nparts: [{procedural: hex_nut, clas: nut}]\n```\n"
     "```bash\nsynthgap validate s.yaml\n```", "did you mean 'class'"),
])
def test_the_checker_catches_drift(page, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    failures = run_page(page, tmp_path)
    assert failures and message in failures[0], failures


def test_the_checker_runs_expected_failures_and_skips_marked_blocks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = ("```bash\nsynthgap validate preset:nope   # exit 2: preset\n```\n\n"
            "<!-- not-run: illustrative -->\n```bash\nsynthgap valdate x\n```\n")
    assert run_page(page, tmp_path) == []
    assert [s.command for s in page_steps(page)] == ["synthgap validate preset:nope"]


def test_shrink_caps_sizes_and_rewrites_jobs(tmp_path):
    assert shrink(["render", "s.yaml", "-n", "500", "-o", "x", "--workers", "4"], tmp_path) == [
        "render", "s.yaml", "-n", "4", "-o", "x", "--workers", "1", "--width", "80",
        "--height", "60"]
    assert shrink(["adapt", "fit", "--method", "fda"], tmp_path)[-2:] == ["--max-images", "4"]
    (tmp_path / "job.yaml").write_text("images: 200\nadapt: {method: patch-smcae}\noutput: o\n")
    args = shrink(["run", "job.yaml", "--no-progress"], tmp_path)
    job = yaml.safe_load(Path(args[1]).read_text())
    assert job["images"] == 4 and job["adapt"]["options"] == {"iterations": 3}


# --- benchmark scripts -------------------------------------------------------------------------

BENCH = re.compile(r"benchmarks/([\w-]+\.py)([^`#\n]*)")


def benchmark_mentions(text: str) -> list[tuple[str, list[str]]]:
    """(script, flags) for every `benchmarks/X.py ...` on a page, in prose or code."""
    return [(m.group(1), re.findall(r"(?<![\w-])--[a-zA-Z][\w-]*", m.group(2)))
            for m in BENCH.finditer(text)]


def check_benchmarks(mentions: list[tuple[str, str, list[str]]]) -> list[str]:
    """Failures for (page, script, flags): a missing script or a flag its --help lacks."""
    failures = [f"{page}: benchmarks/{script} does not exist" for page, script, _ in mentions
                if not (ROOT / "benchmarks" / script).is_file()]
    scripts = sorted({s for _, s, flags in mentions if flags and (ROOT / "benchmarks" / s).is_file()})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {s: subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / s), "--help"],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for s in scripts}
    helps = {s: p.communicate(timeout=120)[0] for s, p in procs.items()}
    for page, script, flags in mentions:
        missing = [f for f in flags if script in helps
                   and not re.search(rf"(?<![\w-]){re.escape(f)}\b", helps[script])]
        if missing:
            failures.append(f"{page}: benchmarks/{script} --help has no {missing}")
    return failures


def test_benchmark_commands_exist_with_their_flags():
    mentions = [(p.name, script, flags) for p in PAGES
                for script, flags in benchmark_mentions(p.read_text(encoding="utf-8"))]
    assert any(flags for _, _, flags in mentions)  # the pages do show benchmark commands
    assert check_benchmarks(mentions) == []


def test_benchmark_check_catches_drift():
    text = ("`python benchmarks/adapt_gap.py --figure g.png --no-such-flag`\n"
            "PYOPENGL_PLATFORM=egl python benchmarks/gone.py --x  # removed\n")
    mentions = [("page.md", s, f) for s, f in benchmark_mentions(text)]
    assert mentions == [("page.md", "adapt_gap.py", ["--figure", "--no-such-flag"]),
                        ("page.md", "gone.py", ["--x"])]
    failures = check_benchmarks(mentions)
    assert len(failures) == 2 and "gone.py does not exist" in failures[0]
    assert "['--no-such-flag']" in failures[1], failures

