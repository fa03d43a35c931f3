"""The ``geojtai`` command line (DESIGN §7).

Exit status 0 on success and 2 on bad input or usage, with one line per problem on stderr
and no traceback. Long steps show progress on a terminal and stay quiet otherwise.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click

from geojtai.errors import GeojtaiError

__all__ = ["main"]

_DEFAULT_SAMPLE_STUDY = Path("studies") / "sample"


def _fail(exc: GeojtaiError) -> NoReturn:
    for problem in exc.problems:
        click.echo(f"geojtai: error: {problem}", err=True)
    sys.exit(2)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except GeojtaiError as exc:
        _fail(exc)


@contextmanager
def _progress(steps: tuple[str, ...]) -> Iterator[Callable[[str], None] | None]:
    """A step progress bar on a terminal; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=len(steps), desc="build", unit="step", leave=False, file=sys.stderr)

    def on_step(name: str) -> None:
        if bar.n < len(steps) and name != steps[0]:
            bar.update(1)
        bar.set_postfix_str(name)

    try:
        yield on_step
    finally:
        bar.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geojtai")
def main() -> None:
    """geojtai: place-based serious youth violence analysis on H3 cells."""


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option("--months", type=click.IntRange(12, 60), default=36, show_default=True)
def sample(out_dir: Path, seed: int, months: int) -> None:
    """Write the synthetic sample town's inputs and its ground truth to OUT_DIR."""
    from geojtai.io.sample import write_sample
    from geojtai.synth import generate_town

    with _errors():
        written = write_sample(generate_town(seed=seed, months=months), out_dir)
    click.echo(f"wrote {len(written)} files to {out_dir}")


def _parse_labelled(values: tuple[str, ...]) -> list[tuple[Path, str | None]]:
    """``PATH`` or ``LABEL=PATH`` (the source agency, or the place layer, of that file)."""
    out: list[tuple[Path, str | None]] = []
    for value in values:
        source, sep, rest = value.partition("=")
        if sep and "/" not in source and not Path(value).exists():
            out.append((Path(rest), source.strip()))
        else:
            out.append((Path(value), None))
    return out


@main.command()
@click.argument("study_toml", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--incidents",
    multiple=True,
    metavar="[SOURCE=]PATH",
    help="Incident file (CSV, CSV.gz, GeoJSON, GPKG) or folder of police.uk files; repeatable.",
)
@click.option("--interventions", type=click.Path(path_type=Path), help="Interventions file.")
@click.option(
    "--places",
    multiple=True,
    metavar="[LAYER=]PATH",
    help="Places: an OSM .osm.pbf, a folder of layer files, or a file (LAYER= says which place "
    "type it is wholly made of); repeatable.",
)
@click.option(
    "--layers",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of extra or overriding place-layer specs (*.toml).",
)
@click.option("--area", type=click.Path(path_type=Path), help="Study area boundary file.")
@click.option("--resolution", type=int, help="H3 resolution, 6..12 (default 9).")
@click.option(
    "--forecast-from",
    metavar="YYYY-MM",
    help="Forecast this month on: the risk models fit on earlier months only.",
)
@click.option("--name", help="Study title shown on maps.")
@click.option(
    "--all-categories", is_flag=True, help="Count every category, not only serious violence."
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def build(
    study_toml: Path | None,
    incidents: tuple[str, ...],
    interventions: Path | None,
    places: tuple[str, ...],
    layers: Path | None,
    area: Path | None,
    resolution: int | None,
    forecast_from: str | None,
    name: str | None,
    all_categories: bool,
    out: Path,
) -> None:
    """Build a study folder from incidents (and interventions, places, area)."""
    from geojtai.settings import (
        IncidentInput,
        PlaceInput,
        StudyInputs,
        StudySettings,
        load_study_toml,
    )
    from geojtai.study import STEPS, build_study

    with _errors():
        settings, inputs = (
            load_study_toml(study_toml) if study_toml else (StudySettings(), StudyInputs())
        )
        changes: dict[str, Any] = {
            "resolution": resolution,
            "name": name,
            "forecast_from": forecast_from,
        }
        settings = settings.with_options(**changes)
        if all_categories:
            settings = replace(settings, categories=None)
        extra = tuple(IncidentInput(path=p, source=s) for p, s in _parse_labelled(incidents))
        more = tuple(PlaceInput(path=p, layer=k) for p, k in _parse_labelled(places))
        inputs = StudyInputs(
            incidents=inputs.incidents + extra,
            interventions=interventions or inputs.interventions,
            places=inputs.places + more,
            area=area or inputs.area,
            layers=layers or inputs.layers,
        )
        with _progress(STEPS) as on_step:
            result = build_study(settings, inputs, out, on_step=on_step)
    _print_summary(result.manifest, out)


def _print_summary(manifest: dict[str, Any], out: Path) -> None:
    rows = manifest["rows"]
    click.echo(
        f"built {out}: {rows['read']} rows read, {rows['valid']} valid, {rows['rejected']} rejected "
        f"(see rejects.csv); {rows['in_scope']} in scope in {manifest['cells']} cells over "
        f"{len(manifest['months'])} months"
    )
    for reason, n in manifest.get("reject_reasons", {}).items():
        click.echo(f"  rejected: {n} × {reason}")
    _print_places(manifest.get("places"))
    _print_coverage(manifest.get("coverage"))


def _print_coverage(headline: dict[str, Any] | None) -> None:
    """Is place-based work where the risk is? The latest month's coverage and the gaps."""
    if not headline:
        return
    top = headline["top_10pct"]
    click.echo(
        f"coverage in {headline['period']}: {headline['active_now']} interventions active; "
        f"top 10 % risk cells covered {top.get('covered', 0):.0%} (no agency "
        f"{top.get('no_agency', 0):.0%}, one {top.get('one_agency', 0):.0%}, two or more "
        f"{top.get('two_or_more', 0):.0%}); risk inside covered cells "
        f"{headline['risk_covered']:.0%}; concentration index {headline['concentration_index']:+.2f}"
    )
    click.echo(
        f"  gaps: {headline['gap_cells']} high-risk cells with no or single-agency cover, in "
        f"{headline['gap_clusters']} clusters"
    )
    for item in headline.get("impact", []):
        if item["change_pct"] is None:
            click.echo(f"  impact {item['id']}: {item['warning']}")
            continue
        low, high = (100 * (v - 1) for v in item["ci"])
        click.echo(
            f"  impact {item['id']} {item['name'][:40]}: {item['change_pct']:+.0f} % "
            f"[{low:+.0f} %, {high:+.0f} %] vs matched controls; {item['wdq']}"
            + (f" ({item['warning']})" if item["warning"] else "")
        )
    for gap in headline["top_gaps"]:
        where = gap.get("place_name") or gap.get("place_type") or "unnamed place"
        click.echo(
            f"  gap {gap['cluster']}: {where} ({gap.get('place_type')}), risk {gap['risk']:.2f}"
        )


def _print_places(summary: dict[str, Any] | None) -> None:
    """The place question: where did the in-scope incidents happen?"""
    if not summary or not (summary["sources"] or set(summary["context_methods"]) - {"none"}):
        return  # no place files and no police.uk Location text: nothing to say
    layers = summary["layers"]
    if summary["sources"]:
        found = ", ".join(f"{v['features_in_region']} {k}" for k, v in layers.items())
        click.echo(f"places in the study region: {found}")
    click.echo("where incidents happened (share of incidents / of harm):")
    for kind, row in summary["share"].items():
        title = layers[kind]["title"] if kind in layers else "Elsewhere"
        click.echo(
            f"  {title:<36} {row['incidents']:>7}  {row['share_incidents']:>6.1%}"
            f"  {row['share_harm']:>6.1%}"
        )
    methods = ", ".join(f"{n} by {m}" for m, n in summary["context_methods"].items())
    click.echo(f"  place context decided: {methods}")
    for kind, names in summary.get("top_places", {}).items():
        shown = "; ".join(f"{name} ({n})" for name, n in names[:3])
        click.echo(f"  top {kind}: {shown}")


@main.command()
@click.argument("study_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--test-months", type=click.IntRange(1, 120), default=6, show_default=True,
    help="Months at the end of the study that are forecast, one origin at a time.",
)  # fmt: skip
@click.option("--horizon", type=click.IntRange(1, 24), default=1, show_default=True)
@click.option(
    "--oracle",
    "truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A synthetic town's truth/intensity.parquet: adds the oracle, the bound on every "
    "method, and scores against the expected counts too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate(
    study_dir: Path, test_months: int, horizon: int, truth: Path | None, as_json: bool
) -> None:
    """Backtest the risk models against baselines: hit rate, PAI, PEI, RRI."""
    import json

    from geojtai.studyops import evaluate_study

    with _errors():
        out = evaluate_study(study_dir, test_months=test_months, horizon=horizon, truth=truth)
    click.echo(json.dumps(out["report"], indent=1) if as_json else out["text"])


@main.command()
@click.argument("study_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--teams", type=click.IntRange(1, 1000), help="Teams to place.")
@click.option(
    "--radius-m", type=click.FloatRange(min=1, max=5000),
    help="Each team's footprint: cells whose centres are within this distance.",
)  # fmt: skip
@click.option(
    "--place-types",
    multiple=True,
    help="Only sites in these place types (parks, shopping_centres, ...); repeatable.",
)
@click.option(
    "--what-if",
    "proposals",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Proposed interventions (same formats as --interventions): the coverage they add.",
)
def plan(
    study_dir: Path,
    teams: int | None,
    radius_m: float | None,
    place_types: tuple[str, ...],
    proposals: Path | None,
) -> None:
    """Suggest deployments that cover the most expected harm (greedy maximum coverage), or
    report what proposed interventions would add (--what-if)."""
    from geojtai.studyops import plan_study, what_if_study

    if proposals is None and (teams is None or radius_m is None):
        raise click.UsageError("give --teams and --radius-m, or --what-if PROPOSALS")
    with _errors():
        if proposals is not None:
            click.echo(what_if_study(study_dir, proposals)["text"])
        if teams is not None and radius_m is not None:
            out = plan_study(study_dir, teams=teams, radius_m=radius_m, place_types=place_types)
            click.echo(out["text"])


_FILTER_OPTIONS = (
    ("from", "--from", "First month YYYY-MM."),
    ("to", "--to", "Last month YYYY-MM."),
    ("category", "--category", "Categories, comma-separated."),
    ("source", "--source", "Source agencies, comma-separated."),
    ("age", "--age", "Age bands, comma-separated."),
    ("place_type", "--place-type", "Place types (parks, streets, ...), comma-separated."),
    ("weekday", "--weekday", "Days: mon..sun, weekdays or weekend, comma-separated."),
    ("hours", "--hours", "Hours such as 15-19 or after_school, comma-separated."),
    ("resolution", "--cell-resolution", "Coarser H3 resolution for the counts."),
)


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for key, flag, text in reversed(_FILTER_OPTIONS):
        command = click.option(flag, f"filter_{key}", metavar="VALUE", help=text)(command)
    return command


def _cli_actor(role: str) -> Any:
    """Who runs the command line, for the export audit log."""
    import getpass

    from geojtai.studyexport import Actor

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        name = "unknown"
    return Actor(name=name, role=role, via="cli")


@main.command()
@click.argument("study_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--layer", "layers", multiple=True, required=True,
    help="Layer(s): counts, cells, risk, hotspots, emerging, gaps, interventions, a place "
    "layer, incidents (internal only), or all; repeatable or comma-separated.",
)  # fmt: skip
@click.option(
    "--format", "fmt", required=True,
    type=click.Choice(["gpkg", "geojson", "csv", "shp", "parquet", "png", "pdf", "html"]),
)  # fmt: skip
@click.option(
    "--profile", type=click.Choice(["publishable", "internal"]), default="publishable",
    show_default=True, help="publishable: small counts merged or withheld, others rounded.",
)  # fmt: skip
@click.option("--threshold", type=int, help="Disclosure threshold (default 10, never below 8).")
@click.option("--marking", help="Protective marking (default OFFICIAL, or OFFICIAL-SENSITIVE "
              "for the internal profile).")  # fmt: skip
@_filter_options
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(
    study_dir: Path,
    layers: tuple[str, ...],
    fmt: str,
    profile: str,
    threshold: int | None,
    marking: str | None,
    out: Path,
    **filters: str | None,
) -> None:
    """Export layers of a built study to a file, disclosure-controlled, and record it in the
    study's audit log (audit.jsonl)."""
    from geojtai.disclosure import DisclosureRule
    from geojtai.io.studyfolder import load_study
    from geojtai.studyexport import export_study

    args = {key.removeprefix("filter_"): v for key, v in filters.items() if v}
    with _errors():
        study = load_study(study_dir)
        rule = _rule(study.manifest, profile, threshold)
        result = export_study(
            study, layers=layers, fmt=fmt, out=out, rule=DisclosureRule(**rule),
            actor=_cli_actor("analyst" if profile == "internal" else "publisher"),
            filter_args=args, marking=marking,
        )  # fmt: skip
    rows = ", ".join(f"{name} {n:,} rows" for name, n in result.rows.items())
    click.echo(f"wrote {out} ({rows}; {profile}; sha256 {result.sha256[:12]}…)")


@main.command()
@click.argument(
    "study_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--profile", type=click.Choice(["publishable", "internal"]), default="publishable",
    show_default=True, help="publishable: small counts merged or withheld, others rounded.",
)  # fmt: skip
@click.option("--threshold", type=int, help="Disclosure threshold (default 10, never below 8).")
@click.option("--marking", help="Protective marking (default from the profile).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def report(
    study_dirs: tuple[Path, ...],
    profile: str,
    threshold: int | None,
    marking: str | None,
    out: Path,
) -> None:
    """Write the evidence pack of one study (several: an overview comparing the areas) as
    FILE.html or FILE.pdf, and record it in each study's audit log."""
    from geojtai.disclosure import DisclosureRule
    from geojtai.io.studyfolder import load_study
    from geojtai.report import write_evidence

    with _errors():
        studies = [load_study(path) for path in study_dirs]
        rule = DisclosureRule(**_rule(studies[0].manifest, profile, threshold))
        actor = _cli_actor("analyst" if profile == "internal" else "publisher")
        result = write_evidence(studies, out, rule, actor=actor, marking=marking)
    kind = "evidence pack" if len(studies) == 1 else f"overview of {len(studies)} areas"
    click.echo(f"wrote {out} ({kind}; {profile}; sha256 {result.sha256[:12]}…)")


def _rule(manifest: dict[str, Any], profile: str, threshold: int | None) -> dict[str, Any]:
    """The disclosure rule's settings: the study's threshold unless one is given."""
    study_threshold = manifest.get("settings", {}).get("disclosure_threshold", 10)
    return {"threshold": threshold or int(study_threshold), "profile": profile}


@main.command()
@click.argument(
    "study_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--anonymous-role",
    type=click.Choice(["viewer", "editor"]),
    default=None,
    help="Let visitors browse without signing in, with this role (default: sign-in needed).",
)
def serve(study_dirs: tuple[Path, ...], host: str, port: int, anonymous_role: str | None) -> None:
    """Serve the interactive maps of one built study, or several (one per area).

    Accounts come from `geojtai users add NAME --role admin`.
    """
    from web import create_app

    config: dict[str, Any] = {"ANONYMOUS_ROLE": anonymous_role}
    if len(study_dirs) == 1:
        config["STUDY_DIR"] = str(study_dirs[0])
    else:
        config["STUDIES"] = _area_names(study_dirs)
    with _errors():
        app = create_app(config)
    where = ", ".join(str(d) for d in study_dirs)
    click.echo(f"serving {where} on http://{host}:{port}/ (Ctrl+C to stop)")
    if anonymous_role is None:
        click.echo("sign-in needed: create accounts with `geojtai users add NAME --role admin`")
    app.run(host=host, port=port)


def _area_names(folders: tuple[Path, ...]) -> dict[str, str]:
    """Area names for study folders: each folder's name, made safe and unique."""
    names: dict[str, str] = {}
    for folder in folders:
        base = re.sub(r"[^a-z0-9_-]+", "-", folder.resolve().name.lower()).strip("-")[:36] or "area"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names[name] = str(folder)
    return names


@main.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--study",
    type=click.Path(file_okay=False, path_type=Path),
    default=_DEFAULT_SAMPLE_STUDY,
    show_default=True,
    help="Where the sample study is built.",
)
@click.option("--no-serve", is_flag=True, help="Build the sample study, then exit.")
def demo(port: int, host: str, study: Path, no_serve: bool) -> None:
    """Build the sample town's study if missing, then serve it: visitors see the published
    (viewer) figures; the `demo` account, with a new password each run, edits."""
    from geojtai.demo import ensure_sample_study

    with _errors():
        manifest = ensure_sample_study(study, echo=click.echo)
    if manifest is not None:
        _print_summary(manifest, study)
    if no_serve:
        return
    from web import create_app

    database = f"sqlite:///{(study.parent / 'demo.sqlite').resolve()}"
    with _errors():
        password = _demo_account(database)
        app = create_app(
            {"STUDY_DIR": str(study), "ANONYMOUS_ROLE": "viewer", "DATABASE_URL": database}
        )
    click.echo(f"serving {study} on http://{host}:{port}/ (Ctrl+C to stop)")
    click.echo(
        f"visitors see published figures; sign in as `demo` with password {password} to edit"
    )
    app.run(host=host, port=port)


def _demo_account(database: str) -> str:
    """Make sure the demo database has an admin `demo`; give it a new random password."""
    import secrets

    from web.db import CLI, add_user, connect, get_user, set_password

    password = secrets.token_urlsafe(12)
    db = connect(database)
    try:
        with db.sessions.begin() as session:
            if get_user(session, "demo") is None:
                add_user(session, "demo", password, role="admin", by=CLI)
            else:
                set_password(session, "demo", password, by=CLI)
    finally:
        db.dispose()
    return password


# -- users: the web app's accounts ------------------------------------------------------------


@main.group()
@click.option(
    "--db",
    "database",
    metavar="URL_OR_PATH",
    envvar="GEOJTAI_DATABASE_URL",
    help="The web app's database: a URL or a SQLite file. Default: GEOJTAI_DATABASE_URL, "
    "else the web app's own (geojtai.sqlite in its instance folder).",
)
@click.pass_context
def users(ctx: click.Context, database: str | None) -> None:
    """Manage the web app's accounts: viewer (inspectors: published figures only), editor
    (partnerships: the interventions register and internal figures), admin (accounts)."""
    ctx.obj = database


@contextmanager
def _accounts() -> Iterator[Any]:
    """A session on the accounts' database, committed if the command succeeds."""
    from web.db import connect, instance_database_url

    given: str | None = click.get_current_context().obj
    with _errors():
        database = connect(given or instance_database_url())
        try:
            with database.sessions.begin() as session:
                yield session
        finally:
            database.dispose()


def _actor() -> Any:
    """The command line as the audit log names it: ``cli:<login name>``."""
    import getpass

    from web.db import Actor

    try:
        return Actor(f"cli:{getpass.getuser()}")
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return Actor("cli")


def _password(from_stdin: bool) -> str:
    """One line of stdin, or asked twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


_PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of stdin (scripts)."
)


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, metavar="viewer|editor|admin", help="The account's role.")
@_PASSWORD_STDIN
def users_add(name: str, role: str, password_stdin: bool) -> None:
    """Create the account NAME; asks for its password (10 characters or more) twice."""
    from web.db import add_user, check_new_user

    with _accounts() as session:
        check_new_user(session, name, role=role)
        add_user(session, name, _password(password_stdin), role=role, by=_actor())
    click.echo(f"added {name} ({role})")


@users.command("list")
def users_list() -> None:
    """List the accounts: name, role, status and last sign-in (UTC)."""
    from web.db import list_users

    with _accounts() as session:
        rows = [
            (
                user.name,
                user.role,
                "active" if user.active else "deactivated",
                f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never",
            )
            for user in list_users(session)
        ]
    if not rows:
        click.echo("no users yet; add one with: geojtai users add NAME --role admin")
        return
    width = max(len("name"), *(len(row[0]) for row in rows))
    click.echo(f"{'name':<{width}}  {'role':<6}  {'status':<11}  last sign-in")
    for name, role, status, last in rows:
        click.echo(f"{name:<{width}}  {role:<6}  {status:<11}  {last}")


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete the account NAME (the audit log keeps its name)."""
    from web.db import remove_user

    with _accounts() as session:
        remove_user(session, name, by=_actor())
    click.echo(f"removed {name}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", metavar="viewer|editor|admin")
def users_set_role(name: str, role: str) -> None:
    """Give the account NAME another ROLE."""
    from web.db import set_role

    with _accounts() as session:
        set_role(session, name, role, by=_actor())
    click.echo(f"{name} is now {role}")


@users.command("set-password")
@click.argument("name")
@_PASSWORD_STDIN
def users_set_password(name: str, password_stdin: bool) -> None:
    """Give the account NAME a new password (which signs it out everywhere)."""
    from geojtai.errors import AccountError
    from web.db import get_user, set_password

    with _accounts() as session:
        if get_user(session, name) is None:
            raise AccountError(f"no user named {name!r}")  # before asking for a password
        set_password(session, name, _password(password_stdin), by=_actor())
    click.echo(f"new password set for {name}")
