"""``assay secret``: the local secret store (values never printed)."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli.common import app_instance, parse_pairs

__all__ = ["app"]

app = typer.Typer(
    help="Manage local secrets used by secretKeyRef and secretEnvs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="Secret name.")],
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs.")],
) -> None:
    """Create or update keys of a secret (stored with mode 0600)."""
    values = parse_pairs(pairs, "secret set")
    app_instance().secrets.set(name, values)
    typer.echo(f"secret {name}: set {', '.join(sorted(values))}")


@app.command("list")
def list_() -> None:
    """Secret names and their keys."""
    for name, keys in app_instance().secrets.names().items():
        typer.echo(f"{name}\t{', '.join(keys)}")


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Secret name.")]) -> None:
    """Remove a secret."""
    app_instance().secrets.delete(name)
    typer.echo(f"secret {name}: deleted")
